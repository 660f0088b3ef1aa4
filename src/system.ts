/**
 * @module
 * The System interface: the only seam between bigmachine and the infrastructure machines run on.
 * Every method of Go bigmachine's `System` is here, with `event` and `keepaliveFailed` from later
 * versions. Systems are built from bigmachine's exported API only and never import each other.
 */
import type { Machine } from "./machine.ts";
import type { RpcEndpoint } from "./rpc/endpoint.ts";
import type { Link } from "./rpc/types.ts";

export type { RpcEndpoint } from "./rpc/endpoint.ts";

/** Keepalive timings for machines of a system, all in milliseconds. */
export interface KeepaliveConfig {
  /** How often the driver sends a keepalive. */
  periodMs: number;
  /**
   * How long a machine lives without a keepalive: the machine's watchdog ends it after this, and the
   * driver declares it lost after this long without a successful keepalive.
   */
  timeoutMs: number;
  /** Deadline of one keepalive call. */
  rpcTimeoutMs: number;
}

/** How a system's machines are reached: plain requests and multiplexed RPC tunnels. */
export interface HttpClient {
  /** Sends one HTTP request to a machine address (credentials added by the system). */
  fetch(addr: string, path: string, init?: RequestInit): Promise<Response>;
  /** Opens an authenticated RPC tunnel to the machine at `addr`. Rejects with kind `net` if it cannot. */
  connect(addr: string, options?: { signal?: AbortSignal }): Promise<Link>;
}

/** A listening endpoint returned by {@link System.listenAndServe}. */
export interface Listener {
  /** The address other members of the cluster use to reach it. */
  readonly addr: string;
  /** Stops serving; idempotent. */
  close(): Promise<void>;
}

/** Lines of output, as yielded by {@link System.tail}. */
export interface LogLine {
  /** Which stream the line came from, when the system knows. */
  stream?: "stdout" | "stderr";
  text: string;
  /** When the line was written, when the system knows. */
  time?: Date;
}

/** What a session hands its system at start. */
export interface SessionInfo {
  /** `driver` in the program that starts machines, `machine` in a machine process. */
  readonly role: "driver" | "machine";
  /**
   * The per-session secret. A driver makes it; a machine is given it at start. Machines serve no call
   * that does not carry it (header {@link SECRET_HEADER}); systems pass it to the machines they start.
   */
  readonly secret: string;
}

/** The request header that carries the session secret on every call and tunnel to a machine. */
export const SECRET_HEADER = "x-bigmachine-secret";

/**
 * Environment variables that make a process a machine, set by systems when they start one. The session
 * secret is not among them: it travels over the machine's IPC channel (`offerSessionSecret`), so that
 * the machine's environment, readable by its subprocesses and in `/proc`, never holds it.
 */
export const MACHINE_ENV = {
  /** `machine` in a machine process. */
  mode: "BIGMACHINE_MODE",
  /** The name of the system that started the machine. */
  system: "BIGMACHINE_SYSTEM",
} as const;

/**
 * Environment variables a driver sets on its machines to give them its keepalive timings (the
 * machine's watchdog and its own dials follow them).
 */
export const KEEPALIVE_ENV = {
  periodMs: "BIGMACHINE_KEEPALIVE_PERIOD_MS",
  timeoutMs: "BIGMACHINE_KEEPALIVE_TIMEOUT_MS",
  rpcTimeoutMs: "BIGMACHINE_KEEPALIVE_RPC_TIMEOUT_MS",
} as const;

/** The environment that gives a machine `config` (see {@link KEEPALIVE_ENV}). */
export function keepaliveEnvOf(config: KeepaliveConfig): Record<string, string> {
  return {
    [KEEPALIVE_ENV.periodMs]: String(config.periodMs),
    [KEEPALIVE_ENV.timeoutMs]: String(config.timeoutMs),
    [KEEPALIVE_ENV.rpcTimeoutMs]: String(config.rpcTimeoutMs),
  };
}

/**
 * The keepalive timings in `env` (see {@link KEEPALIVE_ENV}), each falling back to `fallback`'s.
 * Malformed values fall back too: a machine must start even if its environment is odd.
 */
export function keepaliveFromEnv(env: Record<string, string | undefined>, fallback: KeepaliveConfig): KeepaliveConfig {
  const read = (name: string, value: number) => {
    const n = Number(env[name]);
    return Number.isFinite(n) && n > 0 ? n : value;
  };
  return {
    periodMs: read(KEEPALIVE_ENV.periodMs, fallback.periodMs),
    timeoutMs: read(KEEPALIVE_ENV.timeoutMs, fallback.timeoutMs),
    rpcTimeoutMs: read(KEEPALIVE_ENV.rpcTimeoutMs, fallback.rpcTimeoutMs),
  };
}

/**
 * A System sets up a bigmachine session and starts machines. It also provides the means to talk to
 * them: an {@link HttpClient} for the driver and for machines, and {@link listenAndServe} for a
 * machine's (or driver's) own endpoint.
 */
export interface System {
  /** A name unique among systems (`local`, `testsystem`, `cloudrun`); selects the system in a machine process. */
  readonly name: string;

  /**
   * Called once when a session (driver or machine) starts, before any other method. Implementations
   * must be idempotent. A rejection fails the session's start.
   */
  init(session: SessionInfo): Promise<void>;

  /**
   * Runs this process as a machine: serves `endpoint` where the driver can reach it and takes over the
   * process. It never resolves; it rejects only if the machine cannot be served, and then the process
   * should exit with an error.
   */
  main(endpoint: RpcEndpoint): Promise<never>;

  /** The client drivers and machines use to reach machines of this system. */
  httpClient(): HttpClient;

  /**
   * Serves `endpoint` on an address reachable from the rest of the cluster. `addr` empty means the
   * system's default address for this process.
   */
  listenAndServe(addr: string, endpoint: RpcEndpoint): Promise<Listener>;

  /**
   * Launches up to `n` new machines. The returned machines may still be unstarted: the session starts
   * them, and they become running once they answer. A machine the system knows to have died should be
   * reported through the `exited` promise given to its constructor.
   */
  start(n: number, options: { signal?: AbortSignal }): Promise<Machine[]>;

  /** Ends this machine process with `code`. Never returns. */
  exit(code: number): never;

  /**
   * Called on a graceful driver shutdown, after machines were asked to stop, to tear the system down.
   * It is not guaranteed to be called (the driver may crash): machines must end themselves.
   */
  shutdown(): Promise<void>;

  /** The number of processors per machine, or 0 if it varies. */
  maxprocs(): number;

  /** Keepalive timings for this system's machines. */
  keepaliveConfig(): KeepaliveConfig;

  /** Follows a machine's output until `signal` aborts or the machine's output ends. */
  tail(machine: Machine, signal?: AbortSignal): AsyncIterable<LogLine>;

  /**
   * Reads a file on the machine's host, outside the supervisor, so a host can be inspected even when its
   * machine is unresponsive. Systems that cannot do this throw kind `not-supported`.
   */
  read(machine: Machine, filename: string, signal?: AbortSignal): AsyncIterable<Uint8Array>;

  /** Records an event (machine started, keepalive failed, ...) with structured fields. */
  event(type: string, fields: Record<string, unknown>): void;

  /**
   * Called when keepalives to a machine failed for longer than the keepalive timeout, just before the
   * machine is stopped with `err`.
   */
  keepaliveFailed(machine: Machine, err: Error): void;
}
