/**
 * @module
 * Options of the local system and their defaults, including the keepalive rule and the environment
 * variables that override it (so a driver's machines, and tests, can shorten the timings).
 *
 * The keepalive rule: a local machine is a process on this host, so a silent machine is almost always a
 * dead or stuck one; the timeout only needs to ride out pauses of a busy laptop (garbage collection,
 * a machine pegging every core). Defaults: timeout 10 s, period timeout / 5 (2 s: about five keepalives
 * fit in one timeout window, so one or two slow replies never lose a machine), rpc timeout timeout / 2
 * (5 s: a keepalive may be slow, but two of them always fit before the machine is declared lost). Set
 * only the timeout and the other two follow it; set any of them explicitly and that value wins.
 *
 * The program: machines run the driver's own program unless told otherwise, by `program` or by
 * `BIGMACHINE_LOCAL_PROGRAM` (a script run with plain node, e.g. a bundle made by `bundleProgram`, so a
 * shipped program can be tried on this host before it goes to a worker). The driver's own program runs
 * from its bundle by default (`bundle`, `BIGMACHINE_LOCAL_BUNDLE`): the one file `bundleProgram` makes
 * for Cloud Run workers, run with plain node, so machines start without a TypeScript loader and run what
 * a worker would (see machine-program.ts). Whatever the program, its node flags never include a
 * debugger's (`--inspect*`, `--debug*`): an inspector port would let any local user run code in the
 * machine without the session secret. To debug machines, name them in `inspect` (or
 * `BIGMACHINE_INSPECT`): those get an inspector on a free loopback port, announced on the output.
 */
import os from "node:os";
import { errorOf, type KeepaliveConfig } from "../../core.ts";
import { withoutDebuggerFlags } from "../../util/debugger-flags.ts";

/** The program a local machine runs: a script node runs, with its own node flags and arguments. */
export interface LocalProgram {
  /** The entry script. */
  entry: string;
  /** Node flags, e.g. `["--import", "tsx"]` to run TypeScript. */
  execArgv?: string[];
  /** Arguments after the entry (`process.argv.slice(2)` in the machine). */
  args?: string[];
}

/**
 * Whether machines run the bundle of their program (one file, plain node) or the program as given:
 * `auto` bundles and falls back to the program as given, with a one-line notice, when it cannot be
 * bundled; `always` bundles or fails the start with why; `never` runs the program as given.
 */
export type BundleMode = "auto" | "always" | "never";

/** Options for the local system. Every field is optional. */
export interface LocalSystemOptions {
  /**
   * The program machines run. Default: the script named by `BIGMACHINE_LOCAL_PROGRAM`, run with plain
   * node and the driver's arguments; without it, the driver's own program (`process.argv[1]` with
   * `process.execArgv` and the driver's arguments), from its bundle unless `bundle` says otherwise.
   */
  program?: LocalProgram;
  /**
   * Whether machines run the bundle of the program instead of the program itself (see
   * {@link BundleMode}). The bundle is run as `node --enable-source-maps BUNDLE ARGS`, with the
   * program's node flags other than module loaders (`--import`, `--require`, `--loader`): the bundle
   * holds every module. Default: env `BIGMACHINE_LOCAL_BUNDLE`, then `auto` for the driver's own program
   * and `never` for an explicit `program`. A `BIGMACHINE_LOCAL_PROGRAM` script is never bundled.
   */
  bundle?: BundleMode;
  /**
   * Where bundles are kept across runs (a folder private to this user). Default: env
   * `BIGMACHINE_CACHE_DIR`, then the user's cache folder (`~/.cache/bigmachine` on Linux).
   */
  cacheDir?: string;
  /** Processors per machine; default `os.availableParallelism()`. */
  maxprocs?: number;
  /** Keepalive timings; see the module doc for the rule. Default from the environment, then the rule. */
  keepalive?: Partial<KeepaliveConfig>;
  /** Where prefixed machine output goes; `false` keeps it only for `tail`. Default the driver's stderr. */
  output?: NodeJS.WritableStream | false;
  /** How long a machine process has to report its address; default 30 s (env `BIGMACHINE_STARTUP_TIMEOUT_MS`). */
  startupTimeoutMs?: number;
  /** How long `shutdown` waits for machines to exit before SIGTERM, and again before SIGKILL; default 2 s. */
  shutdownGraceMs?: number;
  /** Lines of output kept per machine for `tail`; default 1000. */
  outputLines?: number;
  /**
   * Machines that get an inspector (`--inspect=127.0.0.1:0`), by start order (0 is the first machine
   * this system starts), or `all`. Each announces its inspector's address on the output. Any local user
   * can connect to an inspector and run code in that machine: use it on a host you trust. Default none
   * (env `BIGMACHINE_INSPECT`: `all` or a comma-separated list such as `0,2`).
   */
  inspect?: number[] | "all";
}

/** Environment variables the local system reads (and sets on its machines). */
export const LOCAL_ENV = {
  keepalivePeriodMs: "BIGMACHINE_KEEPALIVE_PERIOD_MS",
  keepaliveTimeoutMs: "BIGMACHINE_KEEPALIVE_TIMEOUT_MS",
  keepaliveRpcTimeoutMs: "BIGMACHINE_KEEPALIVE_RPC_TIMEOUT_MS",
  startupTimeoutMs: "BIGMACHINE_STARTUP_TIMEOUT_MS",
  /** A script machines run (with plain node) instead of the driver's own program. */
  program: "BIGMACHINE_LOCAL_PROGRAM",
  /** Whether machines run the program's bundle: `auto`, `always` or `never` (see `BundleMode`). */
  bundle: "BIGMACHINE_LOCAL_BUNDLE",
  /** Where bundles are kept across runs. */
  cacheDir: "BIGMACHINE_CACHE_DIR",
  /** Set (to anything but `0` or empty) to record system events. */
  debug: "BIGMACHINE_DEBUG",
  /** Where debug events go (appended, one JSON object a line); default the output stream. */
  debugLog: "BIGMACHINE_DEBUG_LOG",
  /** Machines that get an inspector: `all`, or their start-order numbers, e.g. `0,2`. */
  inspect: "BIGMACHINE_INSPECT",
} as const;

/** The keepalive timeout used when nothing else is given. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;
/** The startup timeout used when nothing else is given. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 30_000;

type Env = Record<string, string | undefined>;

/** Reads a positive integer of milliseconds from `env[name]`; undefined when unset or empty. */
export function envMillis(env: Env, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw errorOf("invalid", `${name} must be a positive whole number of milliseconds, got ${JSON.stringify(raw)}`, { severity: "fatal" });
  }
  return value;
}

function checkMillis(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw errorOf("invalid", `keepalive ${name} must be a positive number of milliseconds, got ${value}`, { severity: "fatal" });
  }
  return value;
}

/**
 * The keepalive timings: explicit `options` first, then the environment, then the rule in the module
 * doc. Throws kind `invalid` for non-positive values, a period not shorter than the timeout, or an rpc
 * timeout longer than the timeout.
 */
export function resolveKeepalive(options: Partial<KeepaliveConfig> = {}, env: Env = process.env): KeepaliveConfig {
  const timeoutMs = checkMillis("timeoutMs", options.timeoutMs ?? envMillis(env, LOCAL_ENV.keepaliveTimeoutMs) ?? DEFAULT_KEEPALIVE_TIMEOUT_MS);
  const periodMs = checkMillis("periodMs", options.periodMs ?? envMillis(env, LOCAL_ENV.keepalivePeriodMs) ?? Math.ceil(timeoutMs / 5));
  const rpcTimeoutMs = checkMillis("rpcTimeoutMs", options.rpcTimeoutMs ?? envMillis(env, LOCAL_ENV.keepaliveRpcTimeoutMs) ?? Math.ceil(timeoutMs / 2));
  if (periodMs >= timeoutMs) {
    throw errorOf("invalid", `keepalive periodMs (${periodMs}) must be shorter than timeoutMs (${timeoutMs})`, { severity: "fatal" });
  }
  if (rpcTimeoutMs > timeoutMs) {
    throw errorOf("invalid", `keepalive rpcTimeoutMs (${rpcTimeoutMs}) must not exceed timeoutMs (${timeoutMs})`, { severity: "fatal" });
  }
  return { periodMs, timeoutMs, rpcTimeoutMs };
}

/** The environment that hands a driver's keepalive timings to its machines. */
export function keepaliveEnv(config: KeepaliveConfig): Record<string, string> {
  return {
    [LOCAL_ENV.keepalivePeriodMs]: String(config.periodMs),
    [LOCAL_ENV.keepaliveTimeoutMs]: String(config.timeoutMs),
    [LOCAL_ENV.keepaliveRpcTimeoutMs]: String(config.rpcTimeoutMs),
  };
}

/** The program machines run as given, and whether they run its bundle instead. */
export interface ProgramChoice {
  /** The program as given (or the driver's own, or the environment's). */
  source: Required<LocalProgram>;
  bundle: BundleMode;
}

/** The options of a local system with every default applied. */
export interface ResolvedLocalOptions {
  /** Undefined when there is no program to run: no `program` and no entry script (a REPL, `node -e`). */
  program: ProgramChoice | undefined;
  /** Where bundles are kept; undefined for the default folder. */
  cacheDir: string | undefined;
  maxprocs: number;
  keepalive: KeepaliveConfig;
  output: NodeJS.WritableStream | false;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  outputLines: number;
  debug: { enabled: boolean; file?: string };
  /** Start-order numbers of the machines that get an inspector, or `all`. */
  inspect: number[] | "all";
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw errorOf("invalid", `${name} must be a positive integer, got ${value}`, { severity: "fatal" });
  return value;
}

/**
 * The driver's own program: its entry script, node flags (less any debugger's) and arguments. Undefined
 * when the process has no entry script (a REPL, `node -e`), in which case machines cannot be started
 * without `program`.
 */
export function ownProgram(proc: Pick<NodeJS.Process, "argv" | "execArgv"> = process): Required<LocalProgram> | undefined {
  const entry = proc.argv[1];
  if (!entry) return undefined;
  return { entry, execArgv: withoutDebuggerFlags(proc.execArgv), args: proc.argv.slice(2) };
}

/** The machines named by `inspect` or `BIGMACHINE_INSPECT`; throws kind `invalid` for anything else. */
export function resolveInspect(option: LocalSystemOptions["inspect"], env: Env = process.env): number[] | "all" {
  const fromEnv = env[LOCAL_ENV.inspect]?.trim();
  const wanted = option ?? (fromEnv ? (fromEnv === "all" ? "all" : fromEnv.split(",").map((part) => part.trim())) : []);
  if (wanted === "all") return "all";
  const source = option !== undefined ? "inspect" : LOCAL_ENV.inspect;
  return wanted.map((item) => {
    const n = typeof item === "number" ? item : /^\d+$/.test(item) ? Number(item) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw errorOf("invalid", `${source} names machines by start order (0, 1, ...) or is "all"; got ${JSON.stringify(item)}`, { severity: "fatal" });
    }
    return n;
  });
}

/**
 * The program named by `BIGMACHINE_LOCAL_PROGRAM`: that script with no node flags (it runs as is, e.g. a
 * bundle) and the driver's arguments. Undefined when the variable is unset or empty.
 */
export function envProgram(env: Env = process.env, proc: Pick<NodeJS.Process, "argv"> = process): Required<LocalProgram> | undefined {
  const entry = env[LOCAL_ENV.program]?.trim();
  if (!entry) return undefined;
  return { entry, execArgv: [], args: proc.argv.slice(2) };
}

const BUNDLE_MODES: readonly BundleMode[] = ["auto", "always", "never"];

/** The bundle mode in `option`, else `BIGMACHINE_LOCAL_BUNDLE`; undefined when neither says. Throws kind `invalid` for anything else. */
export function resolveBundleMode(option: BundleMode | undefined, env: Env = process.env): BundleMode | undefined {
  const raw = option ?? (env[LOCAL_ENV.bundle]?.trim() || undefined);
  if (raw === undefined) return undefined;
  if (!BUNDLE_MODES.includes(raw as BundleMode)) {
    const source = option !== undefined ? "bundle" : LOCAL_ENV.bundle;
    throw errorOf("invalid", `${source} must be one of ${BUNDLE_MODES.join(", ")}; got ${JSON.stringify(raw)}`, { severity: "fatal" });
  }
  return raw as BundleMode;
}

/**
 * The program machines run: an explicit `program` (bundled only when asked), else the environment's
 * script (never bundled: it is run as is), else the driver's own (bundled unless asked not to).
 */
export function resolveProgram(options: LocalSystemOptions, env: Env = process.env, proc: Pick<NodeJS.Process, "argv" | "execArgv"> = process): ProgramChoice | undefined {
  const mode = resolveBundleMode(options.bundle, env);
  if (options.program) {
    if (!options.program.entry) throw errorOf("invalid", "program.entry must name the script machines run", { severity: "fatal" });
    const source = { entry: options.program.entry, execArgv: withoutDebuggerFlags(options.program.execArgv ?? []), args: options.program.args ?? [] };
    return { source, bundle: mode ?? "never" };
  }
  const fromEnv = envProgram(env, proc);
  if (fromEnv) return { source: fromEnv, bundle: "never" };
  const own = ownProgram(proc);
  return own && { source: own, bundle: mode ?? "auto" };
}

/** Applies defaults and the environment to `options`; throws kind `invalid` for bad values. */
export function resolveLocalOptions(options: LocalSystemOptions = {}, env: Env = process.env, proc: Pick<NodeJS.Process, "argv" | "execArgv"> = process): ResolvedLocalOptions {
  const program = resolveProgram(options, env, proc);
  const debug = env[LOCAL_ENV.debug]?.trim();
  return {
    program,
    cacheDir: options.cacheDir ?? (env[LOCAL_ENV.cacheDir]?.trim() || undefined),
    maxprocs: positiveInteger("maxprocs", options.maxprocs ?? os.availableParallelism()),
    keepalive: resolveKeepalive(options.keepalive, env),
    output: options.output ?? process.stderr,
    startupTimeoutMs: positiveInteger("startupTimeoutMs", options.startupTimeoutMs ?? envMillis(env, LOCAL_ENV.startupTimeoutMs) ?? DEFAULT_STARTUP_TIMEOUT_MS),
    shutdownGraceMs: positiveInteger("shutdownGraceMs", options.shutdownGraceMs ?? 2_000),
    outputLines: positiveInteger("outputLines", options.outputLines ?? 1_000),
    debug: { enabled: debug !== undefined && debug !== "" && debug !== "0", file: env[LOCAL_ENV.debugLog] || undefined },
    inspect: resolveInspect(options.inspect, env),
  };
}
