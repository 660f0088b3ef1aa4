// bigmachine: driver-only
/**
 * @module
 * The Cloud Run System against the emulators, in one call: {@link startEmulatedCloudRun} starts the
 * emulators with the worker image (`…/bigmachine/worker`, any tag) mapped to this package's worker,
 * bundled as the image bundles it (`worker/build.ts`) and run with plain node, and hands out System
 * options whose clients talk to the emulators. `npm start` and the tests use it; `bigmachine
 * emulators` maps the image the same way.
 *
 * Driver-only: programs import it with `await import()` where they need it, so shipped bundles of
 * them leave it out (see `src/ship/bundle.ts`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Logging } from "@google-cloud/logging";
import { v2 } from "@google-cloud/run";
import { startEmulators, type Emulators, type EmulatorsOptions, type ImageMapping } from "../../emulators/index.ts";
import { bundleWorker } from "../../../worker/build.ts";
import type { CloudRunClients } from "./clients.ts";
import { isWorkerImage } from "./service-spec.ts";
import type { CloudRunSystemOptions } from "./system.ts";

/** The worker, bundled once per process into a temporary folder, as the command instances run. */
let workerCommand: Promise<{ argv: string[]; dir: string }> | undefined;

/** The command that runs this package's worker as the image does: its bundle under plain node. */
export function workerImageCommand(): Promise<string[]> {
  workerCommand ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "bigmachine-worker-image-"));
    const outfile = path.join(dir, "worker.mjs");
    await bundleWorker(outfile);
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    return { argv: [process.execPath, outfile], dir };
  })();
  return workerCommand.then((c) => c.argv);
}

/**
 * The worker image as the emulators run it: the bundled worker under plain node, with the image's own
 * environment (`worker/Dockerfile`'s ENV: listen on every interface, as Cloud Run's contract asks).
 */
export async function workerImageMapping(): Promise<{ command: string[]; env: Record<string, string> }> {
  return { command: await workerImageCommand(), env: { NODE_ENV: "production", BIGMACHINE_WORKER_HOST: "0.0.0.0" } };
}

/** Maps any reference to the worker image (`…/bigmachine/worker`, any tag) to {@link workerImageMapping}. */
export async function workerImageResolver(): Promise<(image: string) => ImageMapping | undefined> {
  const worker = await workerImageMapping();
  return (image) => (isWorkerImage(image) ? worker : undefined);
}

/** Running emulators that know the worker image, and the System options to use them. */
export interface EmulatedCloudRun {
  emulators: Emulators;
  /** Options for `new CloudRunSystem(...)`: the emulators' project and region, and clients talking to them. */
  systemOptions(): CloudRunSystemOptions;
  /** Stops the emulators (every instance with them). Idempotent. */
  close(): Promise<void>;
}

/** Starts the emulators with the worker image mapped; `options` are passed on. */
export async function startEmulatedCloudRun(options: EmulatorsOptions = {}): Promise<EmulatedCloudRun> {
  const worker = await workerImageResolver();
  const emulators = await startEmulators({
    ...options,
    // An empty GOOGLE_CLOUD_PROJECT means none, as it does to the System.
    projectId: options.projectId ?? (process.env.GOOGLE_CLOUD_PROJECT?.trim() || "bigmachine-emulated"),
    resolveImage: (image) => options.resolveImage?.(image) ?? worker(image),
  });
  const clients: CloudRunClients[] = [];
  return {
    emulators,
    systemOptions: () => {
      const services = new v2.ServicesClient(emulators.runClientOptions());
      const own: CloudRunClients = {
        services,
        logging: new Logging(emulators.loggingClientOptions()),
        // The token the driver-facing metadata server would give its account.
        idTokens: { fetchIdToken: async (audience) => emulators.issuer.signIdToken({ aud: audience, email: emulators.serviceAccountEmail }) },
        account: emulators.serviceAccountEmail,
        close: () => services.close(),
      };
      clients.push(own);
      return { project: emulators.projectId, region: emulators.region, clients: own };
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.close?.().catch(() => {})));
      await emulators.close();
    },
  };
}
