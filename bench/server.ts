/**
 * @module
 * The server half of the RPC benchmark, run as a child process of `bench/rpc.ts`: a bigmachine RPC
 * endpoint (serving a `Bench` service through a machine's service table), a raw WebSocket server and a plain HTTP server on loopback, each echoing small payloads and
 * streaming 64 KiB chunks, so the three can be compared on equal terms. Reports its ports over IPC and
 * exits when its parent disconnects.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { listen, RpcServer } from "../src/rpc/index.ts";
import { ServiceTable } from "../src/services.ts";
import { HIGH_WATER_BYTES, RAW_SINK_COMMAND, RAW_SINK_DONE, RAW_STREAM_COMMAND, type BenchPorts } from "./shared.ts";


/** The benchmark's service, served through the same service table a machine uses. */
class Bench {
  echo(arg: unknown): unknown {
    return arg;
  }

  stream(arg: { count: number; size: number }): AsyncIterable<Uint8Array> {
    const chunk = new Uint8Array(arg.size).fill(7);
    return (async function* () {
      for (let i = 0; i < arg.count; i++) yield chunk;
    })();
  }

  async sink(chunks: AsyncIterable<Uint8Array>): Promise<number> {
    let bytes = 0;
    for await (const chunk of chunks) bytes += chunk.byteLength;
    return bytes;
  }
}

const dispatcher = new ServiceTable();
dispatcher.add("Bench", new Bench());

/** Sends `count` copies of `chunk`, pausing while more than the high-water mark is queued. */
async function sendChunks(ws: WebSocket, chunk: Uint8Array, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      // The callback of a send fires once its data is written out: the closest thing to a drain event.
      await new Promise<void>((resolve) => ws.send(chunk, () => resolve()));
    } else {
      ws.send(chunk);
    }
  }
}

function serveRawWebSocket(ws: WebSocket): void {
  let sinkRemaining = 0;
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) {
      if (sinkRemaining > 0) {
        sinkRemaining -= data.byteLength;
        if (sinkRemaining <= 0) ws.send(RAW_SINK_DONE);
      } else {
        ws.send(data);
      }
      return;
    }
    const [command, count, size] = data.toString().split(" ");
    if (command === RAW_STREAM_COMMAND) void sendChunks(ws, new Uint8Array(Number(size)).fill(7), Number(count));
    if (command === RAW_SINK_COMMAND) sinkRemaining = Number(count) * Number(size);
  });
}

async function main(): Promise<void> {
  const rpc = await listen(new RpcServer({ dispatcher }));

  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("connection", serveRawWebSocket);
  await new Promise((resolve) => wss.once("listening", resolve));

  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      res.writeHead(200, { "content-type": "application/x-msgpack", "content-length": body.byteLength });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));

  const ports: BenchPorts = {
    rpc: rpc.port,
    ws: (wss.address() as AddressInfo).port,
    http: (http.address() as AddressInfo).port,
  };
  process.send!(ports);
  process.once("disconnect", () => process.exit(0));
}

await main();
