/**
 * @module
 * The program local machines run, made ready once per system: the program as given, or its bundle.
 *
 * A bundle is the one ES module file `bundleProgram` makes for Cloud Run workers (driver-only modules
 * left out), with an inline source map naming the program's own files, run as
 * `node --require bundle-stack-traces.cjs BUNDLE ARGS`: the preload makes stack traces name the
 * program's files and lines, reading the map only when a stack is first formatted (node's own
 * `--enable-source-maps` reads it at start, for about a sixth of the machine's start-up CPU; measured
 * in docs/performance.md). Machines then start without a TypeScript loader and without resolving and
 * transforming the program's module graph again, which is most of what a machine costs to start from
 * source, and they run what a worker would run. Bundles are kept across runs in a private
 * cache folder and reused while nothing they were made from has changed (`src/ship/bundle-cache.ts`).
 *
 * In `auto` mode a program that cannot be bundled (a native addon, an import that does not resolve, a
 * driver that is itself a bundle) runs as given, after a one-line notice saying why; a program whose
 * entry is a package's own script (inside `node_modules`, such as a test runner's) is not the driver's
 * program and runs as given, silently. In `always` mode either is an error.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BigmachineError, errorOf, toBigmachineError } from "../../core.ts";
import type { LocalProgram, ProgramChoice } from "./config.ts";
import { LOCAL_ENV } from "./config.ts";
import { withoutModuleLoaders } from "./node-flags.ts";

/** The preload that makes a bundled machine's stack traces name the program's own files (see its doc). */
export const STACK_TRACES_PRELOAD = fileURLToPath(new URL("./bundle-stack-traces.cjs", import.meta.url));

/** The node flags of a machine that runs a bundle: the program's own, less module loaders, and the preload. */
export function bundledNodeFlags(execArgv: readonly string[]): string[] {
  return [...withoutModuleLoaders(execArgv), "--require", STACK_TRACES_PRELOAD];
}

/** A program ready to fork. */
export interface RunnableProgram extends Required<LocalProgram> {
  /** The program's own entry (not the bundle's file), for messages. */
  source: string;
  /** Whether `entry` is the bundle of `source`. */
  bundled: boolean;
  /** The bundle's digest, when bundled. */
  digest?: string;
  /** Whether the bundle was made by an earlier run and reused. */
  reused?: boolean;
}

/** What {@link prepareProgram} needs besides the choice. */
export interface PrepareOptions {
  /** The bundle cache's folder; undefined for the default. */
  cacheDir: string | undefined;
  /** Writes one line for the user (the fallback notice). */
  notice: (line: string) => void;
}

/** Whether `entry` lies inside a `node_modules` folder: a package's script, not a program of the user's. */
export function isPackageScript(entry: string): boolean {
  return path.resolve(entry).split(path.sep).includes("node_modules");
}

/**
 * The program machines run for `choice`: as given, or bundled (see the module doc). Rejects only in
 * `always` mode, with the bundler's error (kind `not-supported` for a program that does not bundle).
 */
export async function prepareProgram(choice: ProgramChoice, options: PrepareOptions): Promise<RunnableProgram> {
  const { source } = choice;
  const asGiven: RunnableProgram = { ...source, source: source.entry, bundled: false };
  if (choice.bundle === "never") return asGiven;
  if (choice.bundle === "auto" && isPackageScript(source.entry)) return asGiven;
  try {
    const cache = await openCache(options);
    const bundle = await cache.bundle(source.entry);
    return {
      entry: bundle.file,
      execArgv: bundledNodeFlags(source.execArgv),
      args: source.args,
      source: bundle.entry,
      bundled: true,
      digest: bundle.digest,
      reused: bundle.reused,
    };
  } catch (err) {
    const reason = toBigmachineError(err);
    if (choice.bundle === "always") throw bundleError(source.entry, reason);
    options.notice(`bigmachine: machines run ${source.entry} as given, not from its bundle: ${headline(reason.message)} (${LOCAL_ENV.bundle}=never skips bundling)`);
    return asGiven;
  }
}

async function openCache(options: PrepareOptions) {
  let cacheModule: typeof import("../../ship/bundle-cache.ts");
  try {
    // Driver-only: machines, and bundles of the program, never load the bundler.
    cacheModule = await import("../../ship/bundle-cache.ts");
  } catch (err) {
    throw errorOf("not-supported", `bundling is not available in this program (is it itself a bundle?): ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
  return cacheModule.openBundleCache(options.cacheDir, (err) => options.notice(`bigmachine: bundles of the program last only this run: ${headline(err.message)}`));
}

function bundleError(entry: string, reason: BigmachineError): BigmachineError {
  if (reason.kind === "not-supported" || reason.kind === "not-exist" || reason.kind === "invalid") return reason;
  return errorOf(reason.kind, `cannot bundle ${entry} for local machines: ${reason.message}`, { severity: "fatal", cause: reason });
}

/** One line for a notice: the first cause a bundler error lists (file:line: text), else the first line. */
function headline(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 && lines[1].startsWith("- ") ? lines[1].slice(2) : (lines[0] ?? "");
}
