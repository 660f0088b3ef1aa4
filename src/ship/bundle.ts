/**
 * @module
 * Bundles a driver's program into one self-contained ES module file for Node 20: the file a generic
 * worker receives, stores and runs as a machine (Go bigmachine's Setbinary/Exec). The entry is the
 * program's own entry module, TypeScript included (as under tsx), and the bundle holds every module it
 * imports, its `node_modules` dependencies among them, since a worker image has none of them. Node's
 * built-in modules stay imports.
 *
 * The bundle is the same program: its top-level code runs in the same order, so it registers the same
 * services and, started with the machine environment (`BIGMACHINE_MODE=machine`), `start()` serves the
 * machine. The output is deterministic for the same sources (paths in it are relative to the entry's
 * package root), so its digest names the program wherever it is built.
 *
 * With `sourceMap`, the same code is followed by an inline source map that names the original files by
 * their absolute paths on this host (no file contents), so that node run with `--enable-source-maps`
 * reports stack traces in the program's own sources. That form is for running on the host that built
 * it (the local system's machines): its paths are this host's, so its digest is not the shipped form's.
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { errorOf, toBigmachineError } from "../errors.ts";
import { buildMessages, describeMessage, unbundlableError } from "./bundle-error.ts";
import { programDigest } from "./digest.ts";
import { driverOnlyPlugin } from "./driver-only.ts";
import { CJS_GLOBALS_MODULE, cjsGlobalsPlugin, nativeAddonPlugin, REQUIRE_BANNER, runtimeAddonLoaderPlugin } from "./esm-interop.ts";

/** Options for {@link bundleProgram}. */
export interface BundleOptions {
  /** The program's entry module. Default: the running program's entry file, `process.argv[1]`. */
  entry?: string;
  /** Reuse this process's earlier bundle of the same entry (default true); `false` always rebuilds. */
  cache?: boolean;
  /**
   * Append an inline source map naming the original files by absolute path (see the module doc), for
   * running on this host with `node --enable-source-maps`. Default false: the shipped form.
   */
  sourceMap?: boolean;
}

/** A program bundled for shipping. */
export interface ProgramBundle {
  /** The bundle: one ES module file (run it as `*.mjs`). */
  code: Uint8Array;
  /** `sha256:<hex>` of `code`. */
  digest: string;
  /** The size of `code` in bytes. */
  bytes: number;
  /** The absolute path of the entry module bundled. */
  entry: string;
  /** What the bundler warned about (`file:line:column: text`), e.g. a `require` of a computed name it could not follow. */
  warnings: string[];
  /** The absolute paths of the files bundled: the entry and every module it imports, dependencies included. */
  inputs: string[];
  /** The entry's package root (the nearest folder with a package.json), which paths in the bundle are relative to. */
  root: string;
}

const bundles = new Map<string, Promise<ProgramBundle>>();

/**
 * Bundles the program whose entry is `options.entry` (default `process.argv[1]`), once per process and
 * entry unless `cache` is false. Rejects with kind `invalid` when there is no entry (a REPL, `node -e`),
 * `not-exist` when the entry is not a file, and `not-supported` (fatal) when the program cannot be
 * bundled into one file: a module that cannot be resolved, a native addon, or anything else the bundler
 * reports it cannot include. That error names each cause and points to baking the program into the
 * worker image instead.
 */
export function bundleProgram(options: BundleOptions = {}): Promise<ProgramBundle> {
  let entry: string;
  try {
    entry = resolveEntry(options.entry);
  } catch (err) {
    return Promise.reject(err);
  }
  const sourceMap = options.sourceMap ?? false;
  if (options.cache === false) return build(entry, sourceMap);
  const key = `${sourceMap ? "mapped" : "shipped"}:${entry}`;
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = build(entry, sourceMap);
    bundles.set(key, bundle);
    // A failure is not kept: the sources may be fixed and the call repeated in the same process.
    bundle.catch(() => {
      if (bundles.get(key) === bundle) bundles.delete(key);
    });
  }
  return bundle;
}

function resolveEntry(given: string | undefined): string {
  const entry = given ?? process.argv[1];
  if (!entry) {
    throw errorOf("invalid", "this process has no entry file to bundle (is it a REPL or `node -e`?); pass `entry`", { severity: "fatal" });
  }
  const resolved = path.resolve(entry);
  let isFile = false;
  try {
    isFile = statSync(resolved).isFile();
  } catch {
    // Reported below.
  }
  if (!isFile) throw errorOf("not-exist", `cannot bundle ${resolved}: no such file`, { severity: "fatal" });
  return resolved;
}

/** The nearest folder at or above the entry's that holds a package.json; else the entry's own folder. */
function packageRoot(entry: string): string {
  for (let dir = path.dirname(entry); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return path.dirname(entry);
  }
}

async function build(entry: string, sourceMap: boolean): Promise<ProgramBundle> {
  // Loaded on first use: a program that ships itself holds this module too, but never bundles on a machine.
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (err) {
    throw errorOf("not-supported", `cannot bundle ${entry}: the esbuild package cannot be loaded here (${(err as Error).message})`, { severity: "fatal", cause: err });
  }
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  const root = packageRoot(entry);
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      absWorkingDir: root,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      logLevel: "silent",
      // Bundling renames clashing top-level names; keep `.name` of functions and classes as written.
      keepNames: true,
      banner: { js: REQUIRE_BANNER },
      inject: [CJS_GLOBALS_MODULE],
      plugins: [driverOnlyPlugin(root), cjsGlobalsPlugin(), nativeAddonPlugin(), runtimeAddonLoaderPlugin()],
      // See the lazy import above: the bundler is a native binary, and machines never need it.
      external: ["esbuild"],
      metafile: true,
      // Sources are named relative to the root; the root as a file URL makes them absolute for node.
      ...(sourceMap ? { sourcemap: "inline", sourcesContent: false, sourceRoot: `${pathToFileURL(root).href}/` } : {}),
    });
  } catch (err) {
    const messages = buildMessages(err);
    if (messages) throw unbundlableError(entry, messages, err);
    const cause = toBigmachineError(err);
    throw errorOf("other", `bundling ${entry} failed: ${cause.message}`, { severity: "unknown", cause: err });
  }
  const outputs = result.outputFiles ?? [];
  if (outputs.length !== 1) throw errorOf("other", `bundling ${entry} produced ${outputs.length} files, not one`, { severity: "fatal" });
  const code = outputs[0].contents;
  const inputs = Object.keys(result.metafile?.inputs ?? {})
    // Virtual modules (the CommonJS globals) are named `namespace:path`; files are paths relative to the root.
    .filter((input) => !/^[a-z][a-z0-9-]+:/i.test(input))
    .map((input) => path.resolve(root, input));
  return { code, digest: programDigest(code), bytes: code.byteLength, entry, warnings: result.warnings.map(describeMessage), inputs, root };
}
