/**
 * @module
 * The RPC benchmark (`npm run bench`): bigmachine RPC over a WebSocket link against a raw WebSocket and
 * against HTTP/1.1 keep-alive, with the servers in a child process on loopback (`bench/server.ts`).
 *
 * 1. Small-call round trips per second, one call in flight and {@link MANY_IN_FLIGHT} in flight: the
 *    raw WebSocket and HTTP servers echo the encoded payload's bytes; bigmachine calls `Bench.echo`.
 * 2. Streaming MB/s: a stream of 64 KiB `Uint8Array` items each way against a raw WebSocket sending the
 *    same chunks.
 *
 * Scenarios run interleaved in rounds after a warm-up, so each figure has a raw WebSocket baseline
 * measured moments before it: on a shared machine the load drifts between rounds far more than within
 * one. Each figure is the median of its rounds, and its ratio the median of its per-round ratios to the
 * baseline. Prints a Markdown table. `BENCH_ROUNDS`, `BENCH_CALL_MS` and `BENCH_STREAM_CHUNKS` override
 * the run's size.
 */
import { fork, type ChildProcess } from "node:child_process";
import http from "node:http";
import os from "node:os";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { connectWebSocket, encode, RpcPeer } from "../src/rpc/index.ts";
import { median, opsPerSecond, throughput, type Operation } from "./measure.ts";
import { HIGH_WATER_BYTES, RAW_SINK_COMMAND, RAW_STREAM_COMMAND, type BenchPorts } from "./shared.ts";

const MANY_IN_FLIGHT = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CALL_MS = Number(process.env.BENCH_CALL_MS ?? 600);
const WARMUP_MS = 1_000;
const CHUNK_BYTES = 64 * 1024;
const STREAM_CHUNKS = Number(process.env.BENCH_STREAM_CHUNKS ?? 2_048); // 128 MiB per run

/** The small call's argument: a typical control message. */
const PAYLOAD = { seq: 12345, op: "ping", values: [1, 2, 3], ok: true };
const PAYLOAD_BYTES = encode(PAYLOAD).slice();

function startServer(): Promise<{ child: ChildProcess; ports: BenchPorts }> {
  const child = fork(fileURLToPath(new URL("./server.ts", import.meta.url)), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (ports) => resolve({ child, ports: ports as BenchPorts }));
    child.once("exit", (code) => reject(new Error(`benchmark server exited with code ${code}`)));
  });
}

/** A raw WebSocket client: binary messages answer echoes in order; text messages are control answers. */
class RawClient {
  readonly ws: WebSocket;
  readonly #echoes: (() => void)[] = [];
  onBinary: ((bytes: number) => void) | undefined;
  onText: (() => void) | undefined;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: Buffer, isBinary) => {
      if (!isBinary) this.onText?.();
      else if (this.onBinary) this.onBinary(data.byteLength);
      else this.#echoes.shift()?.();
    });
  }

  static async connect(port: number): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    return new RawClient(ws);
  }

  echo(): Promise<void> {
    return new Promise((resolve) => {
      this.#echoes.push(resolve);
      this.ws.send(PAYLOAD_BYTES);
    });
  }

  download(count: number): Promise<void> {
    const total = count * CHUNK_BYTES;
    let received = 0;
    return new Promise((resolve) => {
      this.onBinary = (bytes) => {
        received += bytes;
        if (received >= total) {
          this.onBinary = undefined;
          resolve();
        }
      };
      this.ws.send(`${RAW_STREAM_COMMAND} ${count} ${CHUNK_BYTES}`);
    });
  }

  async upload(count: number, chunk: Uint8Array): Promise<void> {
    const done = new Promise<void>((resolve) => (this.onText = resolve));
    this.ws.send(`${RAW_SINK_COMMAND} ${count} ${CHUNK_BYTES}`);
    for (let i = 0; i < count; i++) {
      if (this.ws.bufferedAmount > HIGH_WATER_BYTES) await new Promise<void>((resolve) => this.ws.send(chunk, () => resolve()));
      else this.ws.send(chunk);
    }
    await done;
    this.onText = undefined;
  }
}

function httpEcho(port: number): Operation {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MANY_IN_FLIGHT });
  const headers = { "content-type": "application/x-msgpack", "content-length": PAYLOAD_BYTES.byteLength };
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/echo", agent, headers }, (res) => {
        res.on("data", () => {});
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end(PAYLOAD_BYTES);
    });
}

interface Row {
  test: string;
  transport: string;
  unit: string;
  values: number[];
}

async function main(): Promise<void> {
  const { child, ports } = await startServer();
  const reap = () => child.kill();
  process.once("exit", reap);
  try {
    const raw = await RawClient.connect(ports.ws);
    const peer = new RpcPeer(await connectWebSocket(`ws://127.0.0.1:${ports.rpc}/bigrpc/attach`), { label: "bench" });
    const echoBigmachine: Operation = () => peer.call("Bench.echo", PAYLOAD);
    const echoRaw: Operation = () => raw.echo();
    const echoHttp = httpEcho(ports.http);
    const chunk = new Uint8Array(CHUNK_BYTES).fill(7);
    const streamBytes = STREAM_CHUNKS * CHUNK_BYTES;
    const downloadBigmachine = async () => {
      const stream = await peer.call<AsyncIterable<Uint8Array>>("Bench.stream", { count: STREAM_CHUNKS, size: CHUNK_BYTES });
      let bytes = 0;
      for await (const item of stream) bytes += item.byteLength;
      if (bytes !== streamBytes) throw new Error(`stream carried ${bytes} bytes, want ${streamBytes}`);
    };
    const uploadBigmachine = async () => {
      async function* chunks() {
        for (let i = 0; i < STREAM_CHUNKS; i++) yield chunk;
      }
      const bytes = await peer.call<number>("Bench.sink", chunks());
      if (bytes !== streamBytes) throw new Error(`sink got ${bytes} bytes, want ${streamBytes}`);
    };

    const rows: Row[] = [];
    const callScenarios: [Row, Operation, number][] = [];
    for (const inFlight of [1, MANY_IN_FLIGHT]) {
      const test = `small calls, ${inFlight} in flight`;
      for (const [transport, op] of [["raw WebSocket", echoRaw], ["bigmachine RPC", echoBigmachine], ["HTTP/1.1 keep-alive", echoHttp]] as const) {
        const row = { test, transport, unit: "calls/s", values: [] };
        rows.push(row);
        callScenarios.push([row, op, inFlight]);
      }
    }
    const streamScenarios: [Row, () => Promise<void>][] = [];
    for (const [test, rawRun, ours] of [
      ["stream download, 64 KiB items", () => raw.download(STREAM_CHUNKS), downloadBigmachine],
      ["stream upload, 64 KiB items", () => raw.upload(STREAM_CHUNKS, chunk), uploadBigmachine],
    ] as const) {
      for (const [transport, run] of [["raw WebSocket", rawRun], ["bigmachine RPC", ours]] as const) {
        const row = { test, transport, unit: "MB/s", values: [] };
        rows.push(row);
        streamScenarios.push([row, run]);
      }
    }

    for (const [, op, inFlight] of callScenarios) await opsPerSecond(op, inFlight, WARMUP_MS);
    for (const [, run] of streamScenarios) await run();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [row, op, inFlight] of callScenarios) row.values.push(await opsPerSecond(op, inFlight, CALL_MS));
      for (const [row, run] of streamScenarios) row.values.push(await throughput(streamBytes, run));
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    peer.close();
    raw.ws.close();
    printTable(rows);
  } finally {
    reap();
  }
}

function printTable(rows: Row[]): void {
  const format = (n: number) => Math.round(n).toLocaleString("en-US");
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`bigmachine RPC benchmark, ${new Date().toISOString()}, Node ${process.version}, ${os.availableParallelism()} cores (${cpu})`);
  console.log(`${ROUNDS} rounds, ${CALL_MS} ms per call figure, ${STREAM_CHUNKS} × ${CHUNK_BYTES / 1024} KiB per stream figure\n`);
  console.log("| Test | Transport | Median | Slowest–fastest round | vs raw WebSocket (median of rounds) |");
  console.log("|---|---|---:|---|---:|");
  for (const row of rows) {
    const baseline = rows.find((r) => r.test === row.test && r.transport === "raw WebSocket")!;
    const ratio = median(row.values.map((value, round) => value / baseline.values[round]));
    const range = `${format(Math.min(...row.values))}–${format(Math.max(...row.values))}`;
    console.log(`| ${row.test} | ${row.transport} | ${format(median(row.values))} ${row.unit} | ${range} | ${ratio.toFixed(2)}x |`);
  }
}

await main();
