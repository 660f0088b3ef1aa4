/**
 * @module
 * The Google side of the Cloud Run benchmark, run as a child process of `bench/cloudrun.ts` so that the
 * emulated front end, like Google's, does not share the driver's event loop: the emulators with
 * Google's default timings, the worker image mapped to this package's bundled worker, and a plain HTTP
 * echo service deployed next to it (the way a stateless function executor calls Cloud Run).
 *
 * Each worker instance runs with a program store of its own (a folder named after its process under
 * the folder given as the first argument), as each Cloud Run instance has its own file system: every
 * fresh instance is shipped the program, as on Cloud Run, instead of finding it in a store another
 * instance filled.
 *
 * Over its IPC channel it first sends `EmulatorsReady`, then answers `EmulatorsRequest`s with
 * `EmulatorsReply`s (`cloudrun-shared.ts`). It closes the emulators (every instance with them) and exits when asked
 * to, or when the parent goes away.
 */
import { fileURLToPath } from "node:url";
import { v2 } from "@google-cloud/run";
import { startEmulatedCloudRun, workerImageMapping } from "../src/systems/cloudrun/emulated.ts";
import { isWorkerImage } from "../src/systems/cloudrun/service-spec.ts";
import { ECHO_IMAGE, ECHO_SERVICE, type EmulatorsReady, type EmulatorsReply, type EmulatorsRequest, type InstanceLine } from "./cloudrun-shared.ts";

/** Runs `argv` with `BIGMACHINE_WORKER_PROGRAM_DIR` set to a folder of its own under `root`. */
function withOwnProgramStore(root: string, argv: string[]): string[] {
  return ["/bin/sh", "-c", 'BIGMACHINE_WORKER_PROGRAM_DIR="$0/$$" exec "$@"', root, ...argv];
}

async function main(): Promise<void> {
  const storeRoot = process.argv[2];
  if (!storeRoot || !process.send) throw new Error("usage: run by bench/cloudrun.ts with a folder for the instances' program stores");
  const send = process.send.bind(process);
  // The image's own environment comes too: the worker listens on every interface, as Cloud Run requires.
  const worker = await workerImageMapping();
  const echoServer = fileURLToPath(new URL("./http-echo-server.mjs", import.meta.url));
  const emulated = await startEmulatedCloudRun({
    images: { [ECHO_IMAGE]: [process.execPath, echoServer] },
    resolveImage: (image) => (isWorkerImage(image) ? { command: withOwnProgramStore(storeRoot, worker.command), env: worker.env } : undefined),
  });
  const { emulators } = emulated;
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= emulated.close());
  process.once("disconnect", () => void close().then(() => process.exit(0)));
  // Ctrl-C reaches this process too (instances run in process groups of their own, so it does not reach them).
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void close().then(() => process.exit(130)));

  const services = new v2.ServicesClient(emulators.runClientOptions());
  const [operation] = await services.createService({
    parent: `projects/${emulators.projectId}/locations/${emulators.region}`,
    serviceId: ECHO_SERVICE,
    service: { template: { containers: [{ image: ECHO_IMAGE }] } },
  });
  const [echo] = await operation.promise();
  await services.close();
  const echoInstance = emulators.serving.instances(ECHO_SERVICE)[0];
  if (!echo.uri || !echoInstance) throw new Error("the echo service did not deploy");

  process.on("message", (request: EmulatorsRequest) => {
    const reply = (result: unknown) => send({ id: request.id, ok: true, result } satisfies EmulatorsReply);
    try {
      switch (request.op) {
        case "instances":
          reply(emulators.serving.instances(request.service));
          break;
        case "lines": {
          const lines: InstanceLine[] = [];
          for (const entry of emulators.logging.entries()) {
            if (entry.resource?.labels?.service_name !== request.service) continue;
            const instanceId = entry.labels?.instanceId;
            const text = typeof entry.textPayload === "string" ? entry.textPayload : undefined;
            if (instanceId === undefined || text === undefined || entry.timestamp === undefined) continue;
            lines.push({ instanceId, time: Date.parse(String(entry.timestamp)), text });
          }
          // Read once: what a round needs is read right after it, so the store need not grow.
          emulators.logging.clear();
          reply(lines);
          break;
        }
        case "close":
          void close().then(() => {
            reply(null);
            process.disconnect();
          });
          break;
      }
    } catch (err) {
      send({ id: request.id, ok: false, error: (err as Error).message } satisfies EmulatorsReply);
    }
  });
  send({ type: "ready", env: emulators.env(), workerArgv: worker.command, echoUrl: echo.uri, echoInstancePort: echoInstance.port } satisfies EmulatorsReady);
}

await main();
