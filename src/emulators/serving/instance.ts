/**
 * @module
 * One instance of a revision: a child process run under Cloud Run's container contract (the
 * environment it is given and nothing of this host's, plus `PORT`, its own metadata server and its own
 * file system for `HOME` and `TMPDIR`), ready once it accepts connections on its port from outside
 * loopback, stopped with SIGTERM and then SIGKILL after the grace period, and killed if it outgrows its
 * memory limit (when the plane enforces limits).
 *
 * Each instance runs in its own process group, standing in for the container: SIGTERM goes to the
 * main process (as Cloud Run signals the container's entrypoint), and once that process exits or the
 * grace period ends, the whole group is SIGKILLed, since every process of a container ends with it.
 * An image mapped to a launcher (`npx tsx ...`) therefore leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { createInterface } from "node:readline";
import { createInstanceFiles, type InstanceFiles } from "./instance-files.ts";
import { instanceAddress, probe } from "./listen-probe.ts";
import { guardMemory, memoryExceededMessage, processGroupResidentBytes } from "./memory-guard.ts";

/** Process groups of instances still running, so a host that exits without stopping them still ends them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Sends `signal` to a process group; false if that cannot be done here (no such group, or no groups). */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Only synchronous work is possible here; a clean shutdown stops instances gracefully long before.
  process.once("exit", () => {
    for (const group of liveGroups) signalGroup(group, "SIGKILL");
  });
}

/** The lifecycle of an instance: states only move forward. */
export type InstanceState = "starting" | "ready" | "stopping" | "stopped";

/** How an instance's process ended. */
export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the plane stopped it ("idle", ...), or how it ended otherwise ("killed", "exited with code 3"). */
  reason: string;
  /** True when the plane asked it to stop (SIGTERM); false when it crashed, was killed or exited on its own. */
  planned: boolean;
}

/** How to run an instance. */
export interface InstanceOptions {
  argv: string[];
  /**
   * The whole environment of the process, but for what the instance adds itself: `PORT`,
   * `GCE_METADATA_HOST`, `HOME` and `TMPDIR`.
   */
  env: Record<string, string>;
  revision: string;
  /** Called with each line of output. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** Called once when the process has exited (or failed to spawn), whatever the cause. */
  onExit: (instance: Instance) => void;
  /** Receives lines for Cloud Run's system log about this instance (its memory limit broken). */
  onSystemLog?: (severity: "INFO" | "ERROR", text: string) => void;
  /** Starts the instance's metadata server; its HOST:PORT becomes `GCE_METADATA_HOST`. */
  startMetadataServer: (instanceId: string) => Promise<{ hostPort: string; close(): Promise<void> }>;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  /** Delay before the process starts (a slow cold start: the plane's switch plus any chaos). */
  coldStartDelayMs: number;
  /** Kill the instance when its processes and files use more than this many bytes; unset: no limit. */
  memoryLimitBytes?: number;
}

/**
 * Ports handed to instances that have not stopped: never handed out twice. Instance ports are chosen
 * below the range the system hands out for port 0 (the ephemeral range), so no listener on port 0 (the
 * instances' metadata servers, the emulators' own endpoints, any other program) can be given an
 * instance's port between the check here and the container's own bind.
 */
const handedOut = new Set<number>();
const INSTANCE_PORTS = { low: 20_000, high: 32_000 };

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A free port for an instance, below the ephemeral range; released with {@link releasePort}. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = INSTANCE_PORTS.low + Math.floor(Math.random() * (INSTANCE_PORTS.high - INSTANCE_PORTS.low));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port, "0.0.0.0")) return port;
    handedOut.delete(port);
  }
  throw new Error(`no free port for an instance between ${INSTANCE_PORTS.low} and ${INSTANCE_PORTS.high}`);
}

function releasePort(port: number): void {
  handedOut.delete(port);
}

/** A running (or starting, or stopped) instance. */
export class Instance {
  /** The id Cloud Run logs as `labels.instanceId` and the metadata server reports: random hex. */
  readonly id = randomBytes(24).toString("hex");
  readonly revision: string;
  /** The address the front end reaches it at (see `listen-probe.ts`). */
  host = "127.0.0.1";
  port = 0;
  state: InstanceState = "starting";
  /** Requests (and WebSockets) being served now. */
  inFlight = 0;
  /** Of those, requests whose client has left, which the front end has not ended yet. */
  lingering = 0;
  /** The delay its start waited for (see {@link InstanceOptions.coldStartDelayMs}). */
  readonly startDelayMs: number;
  /** Milliseconds from spawning the process to its first accepted probe, once ready. */
  startupMs: number | undefined;
  /** Its own file system, once made. */
  files: InstanceFiles | undefined;
  /** Sockets through the front end to this instance, so a fault switch can drop them. */
  readonly sockets = new Set<net.Socket>();
  /** Set once the process has ended. */
  exit: InstanceExit | undefined;
  /** True once a newer revision took over: it finishes what it serves, then stops. */
  retiring = false;
  /** Order of the last assignment, so the scheduler can rotate among equally loaded instances. */
  lastAssigned = 0;
  /** Reclaims the instance when it has been idle long enough; managed by the pool. */
  idleTimer: NodeJS.Timeout | undefined;
  #child: ChildProcess | undefined;
  #metadata: { close(): Promise<void> } | undefined;
  #exited: Promise<void> | undefined;
  readonly #options: InstanceOptions;
  #stopReason = "";
  #planned = false;
  #killTimer: NodeJS.Timeout | undefined;
  #stopMemoryGuard: (() => void) | undefined;

  constructor(options: InstanceOptions) {
    this.#options = options;
    this.revision = options.revision;
    this.startDelayMs = options.coldStartDelayMs;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process and resolves once it accepts connections; rejects if it exits, is stopped or times out first. */
  async start(): Promise<void> {
    const o = this.#options;
    if (o.coldStartDelayMs > 0) await new Promise((r) => setTimeout(r, o.coldStartDelayMs));
    this.#assertStarting();
    this.host = await instanceAddress();
    this.port = await freePort();
    this.files = await createInstanceFiles();
    this.#assertStarting();
    const metadata = await o.startMetadataServer(this.id);
    this.#metadata = metadata;
    this.#assertStarting();
    const [command, ...args] = o.argv;
    const files = this.files;
    const child = spawn(command, args, {
      // Only what the plane composed: nothing of this host's environment reaches the container.
      env: { ...o.env, PORT: String(this.port), GCE_METADATA_HOST: metadata.hostPort, HOME: files.home, TMPDIR: files.tmp },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.#child = child;
    const spawnedAt = Date.now();
    if (child.pid !== undefined) trackGroup(child.pid);
    this.#exited = new Promise<void>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null, how: string) => {
        if (this.exit) return;
        this.#stopMemoryGuard?.();
        // The container is gone: whatever its main process started goes with it.
        if (child.pid !== undefined) {
          signalGroup(child.pid, "SIGKILL");
          liveGroups.delete(child.pid);
        }
        this.state = "stopped";
        this.exit = { code, signal, reason: this.#stopReason || how, planned: this.#planned };
        releasePort(this.port);
        void this.#metadata?.close();
        o.onExit(this);
        resolve();
      };
      child.once("exit", (code, signal) => finish(code, signal, `exited with ${signal ?? `code ${code}`}`));
      // A command that cannot be spawned emits "error" and never "exit".
      child.once("error", (err) => {
        if (child.pid === undefined) finish(null, null, `could not start ${command}: ${err.message}`);
      });
    }).then(() => files.remove());
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: child[stream]!, crlfDelay: Infinity }).on("line", (line) => o.onLine(line, stream));
    }
    if (o.memoryLimitBytes !== undefined && child.pid !== undefined) this.#guardMemory(child.pid, o.memoryLimitBytes);
    const deadline = Date.now() + o.startupTimeoutMs;
    let loopbackOnly = false;
    while (this.state === "starting") {
      const found = await probe(this.port);
      if (found === "listening") {
        // The process may have been stopped while the probe was in flight.
        if (this.state !== "starting") break;
        this.startupMs = Date.now() - spawnedAt;
        this.state = "ready";
        return;
      }
      loopbackOnly ||= found === "loopback-only";
      if (Date.now() > deadline) {
        await this.stop("did not listen on PORT within the startup timeout", 0);
        if (loopbackOnly) throw new Error(`the container listens on ${this.#loopbackOnly()}`);
        throw new Error(`the container did not listen on PORT=${this.port} within ${o.startupTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.#exited;
    const reason = this.exit?.reason ?? "stopped";
    if (loopbackOnly) throw new Error(`the container stopped (${reason}) having listened on ${this.#loopbackOnly()}`);
    throw new Error(`the container stopped before listening on PORT=${this.port}: ${reason}`);
  }

  /** What is wrong with a container that listens on loopback only, and the fix. */
  #loopbackOnly(): string {
    return (
      `127.0.0.1:${this.port} (loopback) only, so requests cannot reach it; ` +
      `listen on 0.0.0.0 (all interfaces) on PORT=${this.port}, as Cloud Run requires`
    );
  }

  /** Kills the instance, as Cloud Run does, once its processes and files outgrow `limitBytes`. */
  #guardMemory(pgid: number, limitBytes: number): void {
    const files = this.files!;
    this.#stopMemoryGuard = guardMemory({
      limitBytes,
      usage: async () => (await processGroupResidentBytes(pgid)) + (await files.bytesUsed()),
      onExceeded: (used) => {
        const message = memoryExceededMessage(limitBytes, used);
        this.#options.onSystemLog?.("ERROR", message);
        this.kill(message);
      },
    });
  }

  #assertStarting(): void {
    if (this.state === "starting") return;
    void this.#metadata?.close();
    void this.files?.remove();
    throw new Error(`the instance was stopped before it started: ${this.#stopReason}`);
  }

  /**
   * SIGTERM, then SIGKILL after the grace period (default the plane's); resolves once the process is
   * gone. Safe to call in any state and more than once.
   */
  async stop(reason: string, graceMs = this.#options.shutdownGraceMs): Promise<void> {
    if (this.state === "stopped") return;
    this.#stopReason ||= reason;
    this.#planned ||= this.#stopReason === reason;
    const child = this.#child;
    if (!child) {
      // Not spawned yet: start() sees the state and gives up.
      this.state = "stopped";
      this.exit = { code: null, signal: null, reason: this.#stopReason, planned: true };
      if (this.port !== 0) releasePort(this.port);
      await this.#metadata?.close();
      await this.files?.remove();
      this.#options.onExit(this);
      return;
    }
    if (this.state !== "stopping") {
      this.state = "stopping";
      child.kill("SIGTERM");
      this.#killTimer = setTimeout(() => this.#killAll(), graceMs);
    }
    await this.#exited;
    clearTimeout(this.#killTimer);
  }

  /** Kills the process at once (a fault switch: the instance crashes), recording `reason`. */
  kill(reason = "killed"): void {
    if (this.state === "stopped") return;
    if (!this.#child) {
      void this.stop(reason);
      return;
    }
    this.#stopReason ||= reason;
    // Unroutable at once: the front end may see its connections reset before the exit event arrives.
    this.state = "stopping";
    this.#killAll();
  }

  /** SIGKILL to every process of the instance (the main process alone where groups are not available). */
  #killAll(): void {
    const child = this.#child;
    if (!child?.pid || !signalGroup(child.pid, "SIGKILL")) child?.kill("SIGKILL");
  }

  /** Destroys every connection through the front end to this instance (a fault switch). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
