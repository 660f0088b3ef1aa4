/**
 * @module
 * The Supervisor: the service every machine runs. Through it the driver installs services, sets the
 * environment and arguments, keeps the machine alive, inspects it (memory, disk, load, metrics,
 * profiles) and shuts it down.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import { errorOf } from "./errors.ts";
import { diskInfo, loadInfo, memInfo, type DiskInfo, type LoadInfo, type MemInfo } from "./host-info.ts";
import { metricsSnapshot } from "./metrics.ts";
import { readHostFile } from "./util/host-file.ts";
import { cpuProfile, heapSnapshot } from "./profiling.ts";
import { streamLink } from "./rpc/stream-link.ts";
import type { Link, MethodStats } from "./rpc/types.ts";
import { instantiate, type ServiceContext, type ServiceSpec, type ServiceTable } from "./services.ts";
import { Watchdog } from "./watchdog.ts";

/** The name the supervisor is installed under on every machine. */
export const SUPERVISOR = "Supervisor";

/** A machine's memory use above this percentage marks it unhealthy. */
export const UNHEALTHY_MEMORY_PERCENT = 95;

const SHUTDOWN_FLOOR_MS = 50;

/** What {@link Supervisor.info} reports. */
export interface MachineInfo {
  runtime: "node";
  version: string;
  platform: string;
  arch: string;
  pid: number;
  hostname: string;
  /** sha256 of the program the machine runs (its entry file), hex; empty when unreadable. */
  programDigest: string;
  startTime: string;
  maxprocs: number;
  services: string[];
}

/** The reply to a keepalive. */
export interface KeepaliveReply {
  /** When the machine will end itself unless another keepalive arrives (epoch ms). */
  deadline: number;
  /** False when memory use is above {@link UNHEALTHY_MEMORY_PERCENT}. */
  healthy: boolean;
}

/** Options for {@link Supervisor}. */
export interface SupervisorOptions {
  services: ServiceTable;
  /** Passed to a re-created service's `init` hook: the machine's own session. */
  session: unknown;
  /** Ends the machine (the process, or the in-process machine in the test system). */
  exit: (code: number) => void;
  /** Writes a line of the machine's output (shutdown markers go here so the driver sees logs drained). */
  log: (line: string) => void;
  /** Time allowed before the first keepalive. */
  firstKeepaliveWindowMs: number;
  maxprocs: number;
  /** The server's per-method stats, reported with metrics. */
  rpcStats?: () => Record<string, MethodStats>;
  /** Makes the machine's error replies carry stacks, or not; without it `errorStacks` is not supported. */
  sendErrorStacks?: (on: boolean) => void;
  /** The program this machine runs, for its digest; default the entry file `process.argv[1]`. */
  programPath?: string;
  /**
   * Replaces this machine's program with another (Go's Setbinary/Exec). Systems that ship the driver's
   * code to a generic worker provide it; elsewhere `exec` answers `not-supported`.
   */
  exec?: (program: { code: Uint8Array; digest: string; args: string[] }) => Promise<void>;
  /** Serves calls arriving over a link, as the machine's server does; see {@link Supervisor.acceptLink}. */
  accept?: (link: Link) => void;
}

function digestOf(path: string | undefined): string {
  if (!path) return "";
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return "";
  }
}

/** The service every machine runs. Its methods are called as `Supervisor.<method>`. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #watchdog: Watchdog;
  readonly #startTime = new Date().toISOString();
  #digest: string | undefined;
  #shuttingDown = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#watchdog = new Watchdog(options.firstKeepaliveWindowMs, () => {
      options.log(`bigmachine: no keepalive from the driver before the deadline; ending the machine`);
      options.exit(1);
    });
  }

  /** Echoes its argument: a liveness check that does not extend the machine's life. */
  ping(arg: unknown): unknown {
    return arg;
  }

  /** Describes the machine: runtime, platform, program digest, installed services. */
  info(): MachineInfo {
    this.#digest ??= digestOf(this.#options.programPath ?? process.argv[1]);
    return {
      runtime: "node",
      version: process.version,
      platform: process.platform,
      arch: process.arch,
      pid: process.pid,
      hostname: os.hostname(),
      programDigest: this.#digest,
      startTime: this.#startTime,
      maxprocs: this.#options.maxprocs,
      services: this.#options.services.names(),
    };
  }

  /** Installs a service from its spec and runs its `init` hook; a failing init leaves it uninstalled. */
  async register(spec: ServiceSpec): Promise<void> {
    if (!spec || typeof spec.name !== "string" || typeof spec.type !== "string") {
      throw errorOf("invalid", "register needs a service spec {name, type, state}", { severity: "fatal" });
    }
    const { services } = this.#options;
    if (services.has(spec.name)) throw errorOf("precondition", `service ${spec.name} is already installed`, { severity: "fatal" });
    const instance = instantiate(spec) as { init?: (session: unknown) => unknown };
    if (typeof instance.init === "function") await instance.init(this.#options.session);
    services.add(spec.name, instance);
  }

  /**
   * Makes the machine's error replies carry stack traces (true) or not (false, the default), as the
   * driver's session asks. The stacks are in the machine's log either way.
   */
  errorStacks(on: boolean): void {
    if (typeof on !== "boolean") throw errorOf("invalid", "errorStacks needs true or false", { severity: "fatal" });
    if (!this.#options.sendErrorStacks) throw errorOf("not-supported", "this machine cannot change its error replies", { severity: "fatal" });
    this.#options.sendErrorStacks(on);
  }

  /** Sets environment variables of the machine process. */
  setenv(env: Record<string, string>): void {
    if (!env || typeof env !== "object") throw errorOf("invalid", "setenv needs an object of strings", { severity: "fatal" });
    for (const [k, v] of Object.entries(env)) process.env[k] = String(v);
  }

  /** Replaces the machine's program arguments (`process.argv` after the entry). */
  setargs(args: string[]): void {
    if (!Array.isArray(args)) throw errorOf("invalid", "setargs needs an array of strings", { severity: "fatal" });
    process.argv.splice(2, process.argv.length - 2, ...args.map(String));
  }

  /**
   * Keeps the machine alive for `nextMs` more milliseconds (bounded to an hour), and reports its
   * health. The machine ends itself when the deadline passes without another keepalive.
   */
  keepalive(arg: { nextMs: number }): KeepaliveReply {
    const next = Number(arg?.nextMs);
    if (!(next > 0)) throw errorOf("invalid", "keepalive needs a positive nextMs", { severity: "fatal" });
    const deadline = this.#watchdog.extend(Math.min(next, 3_600_000));
    return { deadline, healthy: memInfo().percent <= UNHEALTHY_MEMORY_PERCENT };
  }

  memInfo(): MemInfo {
    return memInfo();
  }

  diskInfo(): Promise<DiskInfo> {
    return diskInfo();
  }

  loadInfo(): LoadInfo {
    return loadInfo();
  }

  /** A CPU profile of `durationMs` (the `.cpuprofile` JSON). */
  cpuProfile(arg: { durationMs: number }, ctx: ServiceContext): Promise<object> {
    return cpuProfile(Number(arg?.durationMs), ctx.signal);
  }

  /** A heap snapshot, streamed as chunks of the `.heapsnapshot` file. */
  heapSnapshot(): AsyncIterable<Uint8Array> {
    return heapSnapshot();
  }

  /** A snapshot of the machine's metrics (Go's expvars), with the RPC server's per-method stats. */
  metrics(): Record<string, unknown> {
    return { ...metricsSnapshot(), rpc: this.#options.rpcStats?.() ?? {}, memory: memInfo() };
  }

  /** Streams a file of the machine's host; kind `not-exist` when there is none. */
  readFile(filename: string, ctx: ServiceContext): AsyncIterable<Uint8Array> {
    if (typeof filename !== "string" || filename === "") throw errorOf("invalid", "readFile needs a file name", { severity: "fatal" });
    return readHostFile(filename, ctx.signal);
  }

  getpid(): number {
    return process.pid;
  }

  /** Runs another program as this machine; see {@link SupervisorOptions.exec}. */
  async exec(program: { code: Uint8Array; digest: string; args: string[] }): Promise<void> {
    if (!this.#options.exec) throw errorOf("not-supported", "this system does not run shipped programs", { severity: "fatal" });
    await this.#options.exec(program);
  }

  /**
   * Serves an RPC link carried by this call's streams (see `streamLink`): the argument's items are the
   * frames arriving, the reply's items the frames leaving. A driver relays a machine's dial of this
   * machine this way when machines cannot reach each other directly. The link lasts until either
   * stream ends or the call is canceled.
   */
  acceptLink(frames: AsyncIterable<unknown>, ctx: ServiceContext): AsyncIterable<unknown> {
    if (!this.#options.accept) throw errorOf("not-supported", "this machine does not accept links over calls", { severity: "fatal" });
    const carried = streamLink();
    ctx.signal.addEventListener("abort", () => carried.link.close(), { once: true });
    carried.connect(frames);
    this.#options.accept(carried.link);
    return carried.outgoing;
  }

  /**
   * Ends the machine after `delayMs` (default 0) with `code` (default 0). It first writes a log line
   * holding `marker`, so a driver tailing the output knows every earlier line has been delivered.
   * Returns at once; the reply reaches the driver before the machine goes.
   */
  shutdown(arg: { delayMs?: number; code?: number; marker?: string } = {}): { marker: string } {
    const marker = arg?.marker ?? randomUUID();
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#watchdog.stop();
      this.#options.log(`bigmachine: shutdown ${marker}`);
      // A short floor on the delay lets the reply leave the process before it ends.
      const delay = Math.max(SHUTDOWN_FLOOR_MS, Number(arg?.delayMs ?? 0) || 0);
      const timer = setTimeout(() => this.#options.exit(Number(arg?.code ?? 0)), delay);
      timer.unref?.();
    }
    return { marker };
  }

  /** Disarms the watchdog; for systems ending the machine another way. @internal */
  _stopWatchdog(): void {
    this.#watchdog.stop();
  }
}
