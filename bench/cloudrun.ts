/**
 * @module
 * The Cloud Run System's benchmark (`tsx bench/cloudrun.ts`), against the emulators, all in one run:
 *
 * 1. **Start**: `session.startMachines(n)` until n machines run on the emulated Cloud Run, for each n in
 *    {@link START_COUNTS}, against spawning n bare workers (the same bundle under plain node) until each
 *    accepts a connection; with where each machine's time went, and the local system's start of the
 *    same program (`cloudrun-start.ts`).
 * 2. **Calls**: small echo calls per second over the tunnel, one and {@link MANY_IN_FLIGHT} in flight,
 *    against a local-system machine called directly.
 * 3. **Streams**: MB/s of 64 KiB `Uint8Array` items over the tunnel, each way, against the local system.
 * 4. **Request per call**: the same echo as one plain authenticated HTTP request through the same emulated
 *    front end (a small service deployed next to the worker's, an ID token, keep-alive), as stateless
 *    function executors call Cloud Run; and, to show the front end's share, straight to its instance.
 *    And the floor of any tunnel through that front end: the same bytes echoed over a raw WebSocket
 *    by the same small service, through the front end and straight to its instance.
 * 5. **Relay**: MB/s of a stream one machine reads from another it dialed by address: relayed through the
 *    driver on Cloud Run, direct between local-system machines.
 *
 * The emulators run in a child process (`cloudrun-emulators.ts`) with Google's default timings, and the
 * driver is configured by their environment alone, as `bigmachine emulators` prints it. Machines of
 * both systems run the same bundled program (`cloudrun-program.ts`). Rounds interleave every figure;
 * each figure is the median of its rounds and each ratio the median of its per-round ratios. CPU time
 * is booked by process for every call and stream figure (`cloudrun-cpu.ts`). Prints Markdown tables. `BENCH_ROUNDS`, `BENCH_CALL_MS`, `BENCH_STREAM_CHUNKS`, `BENCH_RELAY_CHUNKS` and
 * `BENCH_START_COUNTS` (e.g. `1,8,32`) override the run's size.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GoogleAuth } from "google-auth-library";
import WebSocket from "ws";
import { LocalSystem, start, type Machine, type Session } from "../src/index.ts";
import { bundleProgram } from "../src/ship/bundle.ts";
import { CloudRunSystem, type CloudRunSystemOptions } from "../src/systems/cloudrun/system.ts";
import { ECHO_SERVICE, type EmulatorsReady, type EmulatorsReply, type EmulatorsRequest, type InstanceLine } from "./cloudrun-shared.ts";
import { Bench, BenchRelay } from "./cloudrun-services.ts";
import { bareSpawn, cloudRunStart, localStart, PHASES, type StartPhases } from "./cloudrun-start.ts";
import { countOps, CpuLedger } from "./cloudrun-cpu.ts";
import { median, opsPerSecond, type Operation } from "./measure.ts";

const MANY_IN_FLIGHT = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CALL_MS = Number(process.env.BENCH_CALL_MS ?? 600);
const WARMUP_MS = 1_000;
const CHUNK_BYTES = 64 * 1024;
const STREAM_CHUNKS = Number(process.env.BENCH_STREAM_CHUNKS ?? 2_048); // 128 MiB per figure
const RELAY_CHUNKS = Number(process.env.BENCH_RELAY_CHUNKS ?? 512); // 32 MiB per figure
const START_COUNTS = (process.env.BENCH_START_COUNTS ?? "1,8,32").split(",").map(Number);

/** The program machines run. */
const PROGRAM = fileURLToPath(new URL("./cloudrun-program.ts", import.meta.url));
/** The service of the long-lived machines the calls, streams and relays use. */
const CALLS_SERVICE = "bench-calls";
/** The service each start round starts its machines in. */
const START_SERVICE = "bench-start";

/** The small call's argument, as in the RPC benchmark. */
const PAYLOAD = { seq: 12345, op: "ping", values: [1, 2, 3], ok: true };

/** The emulators' child process and its requests. */
class EmulatorsChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  #next = 0;
  readonly ready: Promise<EmulatorsReady>;
  readonly exited: Promise<void>;

  constructor(storeRoot: string) {
    this.#child = fork(fileURLToPath(new URL("./cloudrun-emulators.ts", import.meta.url)), [storeRoot], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    this.ready = new Promise((resolve, reject) => {
      this.#child.on("message", (message: EmulatorsReady | EmulatorsReply) => {
        if ("type" in message) return resolve(message);
        const waiter = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.ok) waiter?.resolve(message.result);
        else waiter?.reject(new Error(message.error));
      });
      this.#child.once("exit", (code, signal) => {
        const err = new Error(`the emulators' process exited with ${signal ?? `code ${code}`}`);
        reject(err);
        for (const waiter of this.#pending.values()) waiter.reject(err);
      });
    });
  }

  request<T>(request: EmulatorsRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ ...request, id });
    });
  }

  /** Closes the emulators (every instance) and waits for the process to exit. */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.connected) {
      await this.request({ op: "close" }).catch(() => {});
    }
    await this.exited;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Kills the process at once (its exit kills the instances' process groups). */
  kill(): void {
    this.#child.kill("SIGKILL");
  }
}

/** A figure measured once per round. */
interface Figure {
  name: string;
  unit: string;
  values: number[];
}

/** The figures of one start count. */
interface StartFigures {
  bare: Figure;
  cloud: Figure;
  cloudWorkers: Figure;
  local: Figure;
  bareMean: Figure;
  phases: StartPhases[];
  instances: number[];
}

/** Two figures of the same rounds compared: subject / baseline per round. */
interface Comparison {
  test: string;
  baseline: Figure;
  subject: Figure;
  /** The issue's target for the ratio, if any. */
  target?: { atMost?: number; atLeast?: number };
}

function figure(name: string, unit: string): Figure {
  return { name, unit, values: [] };
}

function fetchEcho(url: string, authorization: string | undefined): Operation {
  const body = JSON.stringify(PAYLOAD);
  const headers: Record<string, string> = { "content-type": "application/json", ...(authorization ? { authorization } : {}) };
  return async () => {
    const res = await fetch(url, { method: "POST", headers, body });
    if (!res.ok) throw new Error(`the echo service answered HTTP ${res.status}: ${await res.text()}`);
    const value = (await res.json()) as typeof PAYLOAD;
    if (value.seq !== PAYLOAD.seq) throw new Error("the echo service answered something else");
  };
}

function agentEcho(url: string, authorization: string | undefined): Operation & { agent: http.Agent } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MANY_IN_FLIGHT });
  const body = Buffer.from(JSON.stringify(PAYLOAD));
  const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "content-length": body.byteLength, ...(authorization ? { authorization } : {}) };
  const { hostname, port } = new URL(url);
  const op = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ host: hostname, port, method: "POST", path: "/", agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`the echo service answered HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`));
          const value = JSON.parse(Buffer.concat(chunks).toString()) as typeof PAYLOAD;
          if (value.seq !== PAYLOAD.seq) reject(new Error("the echo service answered something else"));
          else resolve();
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  return Object.assign(op, { agent });
}

/**
 * A WebSocket to the echo service at `url` and an operation over it: send the small call's bytes,
 * resolve when they come back. Echoes come back in order, so any number may be in flight. The front
 * end ends a WebSocket at the service's request timeout (5 minutes), so a closed one is opened again
 * (not while an echo is measured: each figure lasts a moment).
 */
async function wsEcho(url: string, authorization: string | undefined): Promise<{ op: Operation; close(): void }> {
  const body = Buffer.from(JSON.stringify(PAYLOAD));
  const waiting: { resolve(): void; reject(err: Error): void }[] = [];
  const connect = () =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, "ws"), { headers: authorization ? { authorization } : {}, perMessageDeflate: false });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`the echo service refused the upgrade with HTTP ${res.statusCode}`)));
      ws.on("message", (data: Buffer) => {
        const next = waiting.shift();
        if (data.byteLength !== body.byteLength) next?.reject(new Error("the echo service answered something else"));
        else next?.resolve();
      });
      ws.on("close", () => {
        for (const next of waiting.splice(0)) next.reject(new Error("the echo WebSocket closed"));
      });
    });
  let current = connect();
  await current;
  const op = async () => {
    let ws = await current;
    if (ws.readyState !== WebSocket.OPEN) {
      if (ws === (await current)) current = connect();
      ws = await current;
    }
    await new Promise<void>((resolve, reject) => {
      waiting.push({ resolve, reject });
      ws.send(body, { binary: true });
    });
  };
  return { op, close: () => void current.then((ws) => ws.close(), () => {}) };
}

function streams(machine: Machine): { download(): Promise<void>; upload(): Promise<void> } {
  const chunk = new Uint8Array(CHUNK_BYTES).fill(7);
  const bytes = STREAM_CHUNKS * CHUNK_BYTES;
  return {
    async download() {
      const stream = await machine.call<AsyncIterable<Uint8Array>>("Bench.stream", { count: STREAM_CHUNKS, size: CHUNK_BYTES });
      let got = 0;
      for await (const item of stream) got += item.byteLength;
      if (got !== bytes) throw new Error(`the stream carried ${got} bytes, want ${bytes}`);
    },
    async upload() {
      async function* chunks() {
        for (let i = 0; i < STREAM_CHUNKS; i++) yield chunk;
      }
      const got = await machine.call<number>("Bench.sink", chunks());
      if (got !== bytes) throw new Error(`the sink got ${got} bytes, want ${bytes}`);
    },
  };
}

function relay(from: Machine, to: Machine): () => Promise<void> {
  const bytes = RELAY_CHUNKS * CHUNK_BYTES;
  return async () => {
    const got = await from.call<number>("BenchRelay.pull", { addr: to.addr, count: RELAY_CHUNKS, size: CHUNK_BYTES });
    if (got !== bytes) throw new Error(`the relayed stream carried ${got} bytes, want ${bytes}`);
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "bigmachine-bench-cloudrun-"));
  const stores = path.join(tmp, "stores");
  const gcloudConfig = path.join(tmp, "gcloud");
  mkdirSync(stores);
  mkdirSync(gcloudConfig);
  const emulators = new EmulatorsChild(stores);
  const sessions: Session[] = [];
  const removeTmp = () => rmSync(tmp, { recursive: true, force: true });
  process.once("exit", () => {
    emulators.kill();
    removeTmp();
  });
  // Interrupted: the emulators stop their instances (the Cloud Run machines with them); the local
  // system ends its machines as this process exits.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void emulators.close().finally(() => process.exit(130)));
  }

  try {
    const ready = await emulators.ready;
    // The driver knows the emulators by their environment alone; no credentials of this host's apply.
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    delete process.env.METADATA_SERVER_DETECTION;
    Object.assign(process.env, ready.env, { CLOUDSDK_CONFIG: gcloudConfig });

    const bundle = await bundleProgram({ entry: PROGRAM });
    const programFile = path.join(tmp, "program.mjs");
    writeFileSync(programFile, bundle.code);
    process.stderr.write(`program bundled: ${bundle.bytes} bytes; emulators up\n`);

    const services = () => ({ Bench: new Bench(), BenchRelay: new BenchRelay() });
    const cloudEvents = new Map<string, number>();
    const cloudOptions = (service: string): CloudRunSystemOptions => ({
      service,
      programEntry: PROGRAM,
      onEvent: (type) => cloudEvents.set(type, (cloudEvents.get(type) ?? 0) + 1),
    });
    const local = await start({ system: new LocalSystem({ program: { entry: programFile }, output: false }) });
    sessions.push(local);
    const cloud = await start({ system: new CloudRunSystem(cloudOptions(CALLS_SERVICE)) });
    sessions.push(cloud);
    const [localA, localB] = await local.startMachines(2, { services: services() });
    const [cloudA, cloudB] = await cloud.startMachines(2, { services: services() });
    await Promise.all([localA, localB, cloudA, cloudB].map((m) => m.waitFor("running")));
    process.stderr.write("machines running\n");

    // The processes on the paths measured, to account for their CPU time.
    const instances = async (service: string) => emulators.request<{ id: string; pid: number }[]>({ op: "instances", service });
    const callsInstances = await instances(CALLS_SERVICE);
    const workerPid = (m: Machine) => callsInstances.find((i) => i.id === (cloud.system as CloudRunSystem).instanceIdOf(m))?.pid;
    const machinePid = (m: Machine) => m.call<number>("Bench.pid");
    const ledger = new CpuLedger({
      driver: process.pid,
      "front end": emulators.pid,
      "worker a": workerPid(cloudA),
      "machine a": await machinePid(cloudA),
      "worker b": workerPid(cloudB),
      "machine b": await machinePid(cloudB),
      "local a": await machinePid(localA),
      "local b": await machinePid(localB),
      "echo instance": (await instances(ECHO_SERVICE))[0]?.pid,
    });

    const idTokens = await new GoogleAuth().getIdTokenClient(ready.echoUrl);
    const authorization = async () => (await idTokens.getRequestHeaders()).get("authorization") ?? undefined;
    const echoFetch = fetchEcho(ready.echoUrl, await authorization());
    const echoAgent = agentEcho(ready.echoUrl, await authorization());
    const direct = `http://127.0.0.1:${ready.echoInstancePort}/`;
    const echoDirect = agentEcho(direct, undefined);
    const wsViaFrontEnd = await wsEcho(ready.echoUrl, await authorization());
    const wsDirect = await wsEcho(direct, undefined);

    // Figures.
    const calls = new Map<number, Record<keyof typeof callOps, Figure>>();
    for (const inFlight of [1, MANY_IN_FLIGHT]) {
      calls.set(inFlight, {
        local: figure("local system, direct", "calls/s"),
        tunnel: figure("Cloud Run tunnel", "calls/s"),
        wsDirect: figure("raw WebSocket echo straight to an instance", "echoes/s"),
        wsViaFrontEnd: figure("raw WebSocket echo via the front end", "echoes/s"),
        fetch: figure("HTTP request per call via the front end (fetch)", "calls/s"),
        agent: figure("HTTP request per call via the front end (node:http keep-alive agent)", "calls/s"),
        direct: figure("HTTP request per call straight to the instance (node:http agent)", "calls/s"),
      });
    }
    const callOps = {
      local: () => localA.call("Bench.echo", PAYLOAD),
      tunnel: () => cloudA.call("Bench.echo", PAYLOAD),
      wsDirect: wsDirect.op,
      wsViaFrontEnd: wsViaFrontEnd.op,
      fetch: echoFetch,
      agent: echoAgent,
      direct: echoDirect,
    } satisfies Record<string, Operation>;
    const streamBytes = STREAM_CHUNKS * CHUNK_BYTES;
    const relayBytes = RELAY_CHUNKS * CHUNK_BYTES;
    const localStreams = streams(localA);
    const cloudStreams = streams(cloudA);
    const streamFigures = {
      downloadLocal: figure("download, local system", "MB/s"),
      downloadTunnel: figure("download, Cloud Run tunnel", "MB/s"),
      uploadLocal: figure("upload, local system", "MB/s"),
      uploadTunnel: figure("upload, Cloud Run tunnel", "MB/s"),
      relayLocal: figure("machine to machine, local system (direct)", "MB/s"),
      relayTunnel: figure("machine to machine, Cloud Run (relayed by the driver)", "MB/s"),
    };
    const streamRuns: [Figure, number, () => Promise<void>][] = [
      [streamFigures.downloadLocal, streamBytes, localStreams.download],
      [streamFigures.downloadTunnel, streamBytes, cloudStreams.download],
      [streamFigures.uploadLocal, streamBytes, localStreams.upload],
      [streamFigures.uploadTunnel, streamBytes, cloudStreams.upload],
      [streamFigures.relayLocal, relayBytes, relay(localA, localB)],
      [streamFigures.relayTunnel, relayBytes, relay(cloudA, cloudB)],
    ];
    const startFigures = new Map<number, StartFigures>();
    for (const n of START_COUNTS) {
      startFigures.set(n, {
        bare: figure(`${n} bare worker${n === 1 ? "" : "s"} accepting`, "ms"),
        cloud: figure(`Cloud Run startMachines(${n}) until running`, "ms"),
        cloudWorkers: figure(`Cloud Run startMachines(${n}) until the workers listen`, "ms"),
        local: figure(`local system startMachines(${n}) until running`, "ms"),
        bareMean: figure(`${n} bare workers, mean per worker`, "ms"),
        phases: [],
        instances: [],
      });
    }
    const startContext = {
      systemOptions: { service: START_SERVICE, programEntry: PROGRAM },
      lines: () => emulators.request<InstanceLine[]>({ op: "lines", service: START_SERVICE }),
      drained: async () => {
        await waitUntil("the start service has no instance", async () => (await emulators.request<unknown[]>({ op: "instances", service: START_SERVICE })).length === 0);
        // Each instance had a program store of its own; they are gone with their instances.
        for (const name of readdirSync(stores)) rmSync(path.join(stores, name), { recursive: true, force: true });
      },
    };
    const bareEnv = { GCE_METADATA_HOST: ready.env.GCE_METADATA_HOST };

    // Warm-up: every path once. The first start deploys the start service; its deploy leaves one idle
    // instance, which that start's attach takes, so every measured round starts from no instance.
    process.stderr.write("warming up\n");
    for (const [, op] of Object.entries(callOps)) {
      await opsPerSecond(op, 1, WARMUP_MS / 2);
      await opsPerSecond(op, MANY_IN_FLIGHT, WARMUP_MS / 2);
    }
    for (const [, , run] of streamRuns) await run();
    await cloudRunStart(1, startContext);
    await bareSpawn(1, ready.workerArgv, bareEnv);
    await localStart(1, programFile);

    const loads: number[] = [];
    const roundLoads: number[] = [];
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      roundLoads.push(os.loadavg()[0]);
      for (const [inFlight, figures] of calls) {
        for (const key of Object.keys(callOps) as (keyof typeof callOps)[]) {
          const fig = figures[key];
          const { ops, ms } = await ledger.measure(`${fig.name}, ${inFlight} in flight`, () => countOps(callOps[key], inFlight, CALL_MS), (r) => r.ops);
          fig.values.push(ops / (ms / 1000));
        }
      }
      for (const [fig, bytes, run] of streamRuns) {
        const timed = async () => {
          const t = performance.now();
          await run();
          return performance.now() - t;
        };
        const ms = await ledger.measure(fig.name, timed, () => bytes / 1e6);
        fig.values.push(bytes / 1e6 / (ms / 1000));
      }
      for (const n of START_COUNTS) {
        const figs = startFigures.get(n)!;
        const bare = await bareSpawn(n, ready.workerArgv, bareEnv);
        figs.bare.values.push(bare.totalMs);
        figs.bareMean.values.push(bare.meanMs);
        try {
          const cloudStart = await cloudRunStart(n, startContext);
          figs.cloud.values.push(cloudStart.totalMs);
          figs.cloudWorkers.values.push(cloudStart.workersListeningMs);
          figs.phases.push(cloudStart.phases);
          figs.instances.push(cloudStart.instances);
        } catch (err) {
          // A start that fails is reported, and its round has no start figure.
          failures.push(`startMachines(${n}) in round ${round + 1}: ${(err as Error).message}`);
          figs.cloud.values.push(Number.NaN);
          figs.cloudWorkers.values.push(Number.NaN);
        }
        figs.local.values.push(await localStart(n, programFile));
      }
      loads.push(os.loadavg()[0]);
      process.stderr.write(`round ${round + 1}/${ROUNDS} done (load ${os.loadavg()[0].toFixed(2)})\n`);
    }
    const loadAtEnd = os.loadavg();

    const comparisons: Comparison[] = [];
    for (const n of START_COUNTS) {
      const figs = startFigures.get(n)!;
      const test = `start ${n} machine${n === 1 ? "" : "s"}`;
      comparisons.push({ test, baseline: figs.bare, subject: figs.cloud, target: { atMost: 1.5 } });
      comparisons.push({ test, baseline: figs.bare, subject: figs.cloudWorkers });
      comparisons.push({ test, baseline: figs.local, subject: figs.cloud });
    }
    for (const [inFlight, figs] of calls) {
      const test = `small calls, ${inFlight} in flight`;
      comparisons.push({ test, baseline: figs.local, subject: figs.tunnel, target: { atLeast: 0.7 } });
      comparisons.push({ test, baseline: figs.wsDirect, subject: figs.wsViaFrontEnd });
      comparisons.push({ test, baseline: figs.wsViaFrontEnd, subject: figs.tunnel });
    }
    for (const [inFlight, figs] of calls) {
      const test = `small calls, ${inFlight} in flight`;
      comparisons.push({ test, baseline: figs.fetch, subject: figs.tunnel, target: { atLeast: 5 } });
      comparisons.push({ test, baseline: figs.agent, subject: figs.tunnel, target: { atLeast: 5 } });
      comparisons.push({ test, baseline: figs.direct, subject: figs.tunnel });
    }
    comparisons.push({ test: "stream download, 64 KiB items", baseline: streamFigures.downloadLocal, subject: streamFigures.downloadTunnel });
    comparisons.push({ test: "stream upload, 64 KiB items", baseline: streamFigures.uploadLocal, subject: streamFigures.uploadTunnel });
    comparisons.push({ test: "machine to machine stream, 64 KiB items", baseline: streamFigures.relayLocal, subject: streamFigures.relayTunnel });

    const events = Object.fromEntries([...cloudEvents].filter(([type]) => /rotate|resumed|tunnelLost|lost/.test(type)));
    const cpuRows: { figure: string; unit: string }[] = [];
    for (const [inFlight, figs] of calls) for (const fig of Object.values(figs)) cpuRows.push({ figure: `${fig.name}, ${inFlight} in flight`, unit: "call" });
    for (const [fig] of streamRuns) cpuRows.push({ figure: fig.name, unit: "MB" });
    printReport({ comparisons, startFigures, loadAtStart, loadAtEnd, loads, roundLoads, events, ledger, cpuRows, failures });

    echoAgent.agent.destroy();
    echoDirect.agent.destroy();
    wsViaFrontEnd.close();
    wsDirect.close();
  } finally {
    await Promise.all(sessions.map((s) => s.shutdown({ drainMs: 0 }).catch(() => {})));
    await emulators.close();
    removeTmp();
  }
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1);
}

function printReport(report: {
  comparisons: Comparison[];
  startFigures: Map<number, StartFigures>;
  loadAtStart: number[];
  loadAtEnd: number[];
  loads: number[];
  roundLoads: number[];
  events: Record<string, number>;
  ledger: CpuLedger;
  cpuRows: { figure: string; unit: string }[];
  failures: string[];
}): void {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(", ");
  console.log(`bigmachine Cloud Run benchmark (emulators), ${new Date().toISOString()}, Node ${process.version}, ${os.availableParallelism()} cores (${cpu})`);
  console.log(`${ROUNDS} rounds; ${CALL_MS} ms per call figure; ${STREAM_CHUNKS} × 64 KiB per stream figure, ${RELAY_CHUNKS} × 64 KiB per machine-to-machine figure; start counts ${START_COUNTS.join(", ")}`);
  console.log(`load average (1, 5, 15 min): ${load(report.loadAtStart)} at the start, ${load(report.loadAtEnd)} at the end; 1-min at the start and end of each round: ${report.roundLoads.map((x, i) => `${x.toFixed(2)}–${report.loads[i].toFixed(2)}`).join(", ")} (the start figures' own processes raise it)`);
  const events = Object.entries(report.events);
  console.log(`tunnel events of the long-lived machines: ${events.length === 0 ? "none" : events.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  for (const failure of report.failures) console.log(`failed: ${failure}`);
  console.log("");

  console.log("| Test | Baseline | Median (slowest–fastest) | Subject | Median (slowest–fastest) | Subject / baseline | Target |");
  console.log("|---|---|---:|---|---:|---:|---|");
  const cell = (f: Figure) => {
    const values = f.values.filter(Number.isFinite);
    return `${format(median(values))} ${f.unit} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
  };
  for (const c of report.comparisons) {
    const ratio = median(c.subject.values.map((v, i) => v / c.baseline.values[i]).filter(Number.isFinite));
    let target = "";
    if (c.target?.atMost !== undefined) target = `≤ ${c.target.atMost}x: ${ratio <= c.target.atMost ? "met" : "missed"}`;
    if (c.target?.atLeast !== undefined) target = `≥ ${c.target.atLeast}x: ${ratio >= c.target.atLeast ? "met" : "missed"}`;
    console.log(`| ${c.test} | ${c.baseline.name} | ${cell(c.baseline)} | ${c.subject.name} | ${cell(c.subject)} | ${ratio.toFixed(2)}x | ${target} |`);
  }

  console.log("\nWhere a Cloud Run machine's start goes: the mean over the round's machines of each phase, median of the rounds (ms)\n");
  const counts = [...report.startFigures.keys()];
  console.log(`| Phase | ${counts.map((n) => `n = ${n}`).join(" | ")} |`);
  console.log(`|---|${counts.map(() => "---:").join("|")}|`);
  for (const { key, label } of PHASES) {
    console.log(`| ${label} | ${counts.map((n) => format(median(report.startFigures.get(n)!.phases.map((p) => p[key])))).join(" | ")} |`);
  }
  const perMachine = (n: number) => median(report.startFigures.get(n)!.phases.map((p) => PHASES.reduce((sum, { key }) => sum + p[key], 0)));
  console.log(`| **mean per machine, start to running** | ${counts.map((n) => format(perMachine(n))).join(" | ")} |`);
  console.log(`| last machine running (the start figure) | ${counts.map((n) => format(median(report.startFigures.get(n)!.cloud.values.filter(Number.isFinite)))).join(" | ")} |`);
  console.log(`| bare worker: mean per worker, spawn to accepting | ${counts.map((n) => format(median(report.startFigures.get(n)!.bareMean.values))).join(" | ")} |`);
  console.log(`| bare workers: last one accepting (the baseline) | ${counts.map((n) => format(median(report.startFigures.get(n)!.bare.values))).join(" | ")} |`);
  console.log(`| instances started per round (most of any round) | ${counts.map((n) => String(Math.max(...report.startFigures.get(n)!.instances))).join(" | ")} |`);

  const names = [...report.ledger.processes.keys()];
  console.log("\nCPU time by process, all rounds: µs per call, or per MB for streams (/proc; 10 ms ticks summed over every round)\n");
  console.log(`| Figure | ${names.join(" | ")} | all |`);
  console.log(`|---|${names.map(() => "---:").join("|")}|---:|`);
  for (const { figure, unit } of report.cpuRows) {
    const micros = report.ledger.perUnitMicros(figure);
    if (!micros) continue;
    const all = [...micros.values()].reduce((a, b) => a + b, 0);
    console.log(`| ${figure} (per ${unit}) | ${names.map((n) => format(micros.get(n) ?? 0)).join(" | ")} | ${format(all)} |`);
  }
}

await main();
