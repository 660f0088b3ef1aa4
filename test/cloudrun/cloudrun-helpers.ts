/**
 * Shared pieces of the Cloud Run System's tests: emulators that know the worker image, with timings
 * short enough for a test, and System options that ship the conformance program.
 */
import { fileURLToPath } from "node:url";
import { startEmulatedCloudRun, type EmulatedCloudRun } from "../../src/systems/cloudrun/emulated.ts";
import type { CloudRunSystemOptions } from "../../src/systems/cloudrun/system.ts";
import type { EmulatorsOptions } from "../../src/emulators/index.ts";

/** The program the tests' machines run: it registers the conformance services. */
export const CONFORMANCE_PROGRAM = fileURLToPath(new URL("./fixtures/conformance-program.ts", import.meta.url));

/** Keepalives short enough that a lost machine is noticed within a test, long enough for two busy cores. */
export const SHORT_KEEPALIVE = { periodMs: 300, timeoutMs: 4_000, rpcTimeoutMs: 2_000 };

/**
 * Emulators with the worker image mapped and quick deploys, queues and log reads. Entries still become
 * readable out of order (a jitter of up to 300 ms), which the tail's reorder window (below) covers.
 */
export function startTestCloudRun(options: EmulatorsOptions = {}): Promise<EmulatedCloudRun> {
  return startEmulatedCloudRun({
    ...options,
    admin: { operationDelayMs: 10, ...options.admin },
    logging: { ingestionDelayMs: 50, ingestionJitterMs: 300, ...options.logging },
    serving: { idleTimeoutMs: 120_000, shutdownGraceMs: 3_000, startupTimeoutMs: 20_000, queueTimeoutMs: 10_000, ...options.serving },
  });
}

/** System options for `emulated` that ship the conformance program with short timings. */
export function testSystemOptions(emulated: EmulatedCloudRun, extra: CloudRunSystemOptions = {}): CloudRunSystemOptions {
  return {
    ...emulated.systemOptions(),
    programEntry: CONFORMANCE_PROGRAM,
    requestTimeoutMs: 300_000,
    keepalive: SHORT_KEEPALIVE,
    startTimeoutMs: 60_000,
    logTail: { pollIntervalMs: 200, overlapMs: 3_000, reorderMs: 1_000, retryInitialMs: 200, retryMaxMs: 2_000 },
    env: { BIGMACHINE_WORKER_IDLE_EXIT_MS: "10000" },
    ...extra,
  };
}
