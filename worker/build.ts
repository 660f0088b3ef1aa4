/**
 * @module
 * Bundles the worker into one ESM file with its dependencies, the only file of the worker image
 * (`worker/Dockerfile` runs this). The bundle starts from `worker/main.ts`, so it holds the worker and
 * what it imports: never deploy code, never a driver's program.
 *
 * Usage: `tsx worker/build.ts OUTFILE`.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The worker's entry point: `main.ts` beside this module, or `main.js` when this module is built. */
export const WORKER_ENTRY = fileURLToPath(new URL(`./main${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** What {@link bundleWorker} wrote. */
export interface WorkerBundle {
  bytes: number;
  /** The source files in the bundle, relative to the working directory. */
  inputs: string[];
}

/** Writes the bundled worker to `outfile`. */
export async function bundleWorker(outfile: string): Promise<WorkerBundle> {
  const result = await build({
    entryPoints: [WORKER_ENTRY],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    metafile: true,
    logLevel: "warning",
    // Bundled CommonJS dependencies (ws among them) call require(), which an ES module lacks.
    banner: { js: 'import { createRequire as __workerRequire } from "node:module"; const require = __workerRequire(import.meta.url);' },
  });
  const bytes = Object.values(result.metafile.outputs).reduce((total, output) => total + output.bytes, 0);
  return { bytes, inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = process.argv[2];
  if (!outfile) {
    process.stderr.write("usage: tsx worker/build.ts OUTFILE\n");
    process.exit(2);
  }
  const { bytes } = await bundleWorker(outfile);
  process.stderr.write(`bundled the worker into ${outfile} (${bytes} bytes)\n`);
}
