/**
 * Shared pieces of the worker's and the attach client's tests: fixture programs bundled as a driver's
 * program is, an in-process worker on loopback with short timings and a program store in a temporary
 * folder, and raw attaches that expose the worker's answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { bundleProgram, ProgramStore, programDigest } from "../../src/ship/index.ts";
import { ATTACH_HEADERS, ATTACH_PATH, ATTACH_PROTOCOL_VERSION, ATTACH_REFUSAL_HEADER, newDeploymentKey, sessionProof } from "../../src/systems/cloudrun/attach-protocol.ts";
import { TunnelSocket } from "../../src/systems/cloudrun/tunnel-socket.ts";
import { serveWorker, type ServedWorker } from "../../worker/app.ts";
import { Worker, type WorkerOptions } from "../../worker/worker.ts";

export { processAlive } from "../local/helpers.ts";

/** The absolute path of a fixture. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A program as the driver ships it: one self-contained ESM file and its digest. */
export interface Program {
  code: Uint8Array;
  digest: string;
}

/** `sha256:<hex>` of `code`. */
export const digestOf = programDigest;

/** Bundles a fixture as a driver's program is bundled for shipping. */
export async function bundleFixture(name: string): Promise<Program> {
  return bundleProgram({ entry: fixture(name) });
}

/** Timings short enough for a test, long enough for two busy cores. */
export const SHORT_WORKER_TIMINGS = {
  handshakeTimeoutMs: 5_000,
  machineStartupTimeoutMs: 10_000,
  stopGraceMs: 2_000,
  endedLingerMs: 60_000,
  idleExitMs: 600_000,
};

/** An in-process worker on loopback. */
export interface TestWorker {
  worker: Worker;
  served: ServedWorker;
  deploymentKey: string;
  cache: ProgramStore;
  /** How many times the worker said it was finished. */
  finishedCount(): number;
  /** Lines the worker logged. */
  logs: string[];
  /** Stops the worker (and its machine) and the listener; removes its folder. */
  close(): Promise<void>;
}

/** Starts a worker on `127.0.0.1:0` with a program cache in a fresh temporary folder. */
export async function startTestWorker(options: Partial<WorkerOptions> = {}): Promise<TestWorker> {
  const dir = mkdtempSync(join(tmpdir(), "bigmachine-worker-"));
  const deploymentKey = options.deploymentKey ?? newDeploymentKey();
  const cache = new ProgramStore(join(dir, "programs"));
  const logs: string[] = [];
  let finished = 0;
  const worker = new Worker({
    deploymentKey,
    instanceId: "test-instance",
    programs: cache,
    ...SHORT_WORKER_TIMINGS,
    log: (line) => logs.push(line),
    ...options,
    onFinished: () => {
      finished++;
      options.onFinished?.();
    },
  });
  const served = await serveWorker(worker, { host: "127.0.0.1", port: 0 });
  return {
    worker,
    served,
    deploymentKey,
    cache,
    finishedCount: () => finished,
    logs,
    close: async () => {
      await worker.stop();
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A random session secret of the length drivers make. */
export function newSecret(): string {
  return newDeploymentKey();
}

/** Attach headers for `secret` under `deploymentKey`, plus `extra`. */
export function attachHeaders(deploymentKey: string, secret: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    [ATTACH_HEADERS.version]: ATTACH_PROTOCOL_VERSION,
    [ATTACH_HEADERS.secret]: secret,
    [ATTACH_HEADERS.proof]: sessionProof(deploymentKey, secret),
    ...extra,
  };
}

/** What a raw attach got: an open tunnel, or the refusal's status and reason. */
export type RawAttach = { tunnel: TunnelSocket; status?: undefined } | { tunnel?: undefined; status: number; reason: string | undefined };

/** Opens the attach route of `baseUrl` with exactly `headers`, exposing the worker's answer. */
export function rawAttach(baseUrl: string, headers: Record<string, string>): Promise<RawAttach> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}${ATTACH_PATH}`, { headers, perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
    ws.once("open", () => {
      ws.removeAllListeners("error");
      resolve({ tunnel: new TunnelSocket(ws) });
    });
    ws.once("unexpected-response", (_req, res) => {
      const reason = res.headers[ATTACH_REFUSAL_HEADER];
      res.resume();
      ws.on("error", () => {});
      ws.terminate();
      resolve({ status: res.statusCode ?? 0, reason: typeof reason === "string" ? reason : undefined });
    });
    ws.once("error", reject);
  });
}
