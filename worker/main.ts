/**
 * @module
 * The worker's entry point, the process a Cloud Run instance runs: read the settings, learn the
 * instance id, serve the attach route on `$PORT`, and exit once the machine has ended (Cloud Run then
 * replaces the instance with a clean one) or on SIGTERM, after stopping the machine. Without a
 * deployment key it refuses to start.
 */
// The store alone: the ship index also holds the bundler, which the image has no use for.
import { ProgramStore } from "../src/ship/program-store.ts";
import { DEPLOYMENT_KEY_ENV } from "../src/systems/cloudrun/attach-protocol.ts";
import { serveWorker, type ServedWorker } from "./app.ts";
import { workerConfigFrom, type WorkerConfig } from "./config.ts";
import { readInstanceId } from "./instance-id.ts";
import { Worker } from "./worker.ts";

/** Exit code of a worker that could not start (bad settings, port taken). */
const START_FAILED_EXIT_CODE = 2;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = workerConfigFrom(process.env);
    // Nothing the worker starts inherits the key; the process's own environ stays the worker's user's.
    delete process.env[DEPLOYMENT_KEY_ENV];
  } catch (err) {
    log(`bigmachine worker: cannot start: ${(err as Error).message}`);
    process.exit(START_FAILED_EXIT_CODE);
  }
  const instance = await readInstanceId({ log });
  let served: ServedWorker | undefined;
  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    await served?.close();
    process.exit(0);
  };
  const worker = new Worker({
    deploymentKey: config.deploymentKey,
    instanceId: instance.id,
    programs: new ProgramStore(config.programDir),
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    machineStartupTimeoutMs: config.machineStartupTimeoutMs,
    stopGraceMs: config.stopGraceMs,
    endedLingerMs: config.endedLingerMs,
    idleExitMs: config.idleExitMs,
    machineUser: config.machineUser,
    onFinished: () => void exit(),
    log,
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log(`bigmachine worker: ${signal}: stopping`);
      void worker.stop();
    });
  }
  try {
    served = await serveWorker(worker, { host: config.host, port: config.port });
  } catch (err) {
    log(`bigmachine worker: cannot start: ${(err as Error).message}`);
    process.exit(START_FAILED_EXIT_CODE);
  }
  log(`bigmachine worker: instance ${instance.id} serving attaches on ${served.url}`);
}

await main();
