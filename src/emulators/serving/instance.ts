/**
 * @module
 * One instance of a revision: a child process run under Cloud Run's container contract (`PORT`,
 * `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`, a metadata server), ready once it accepts connections
 * on its port, stopped with SIGTERM and then SIGKILL after the grace period.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { createInterface } from "node:readline";

/** The lifecycle of an instance. */
export type InstanceState = "starting" | "ready" | "stopping" | "stopped";

/** How to run an instance. */
export interface InstanceOptions {
  argv: string[];
  env: Record<string, string>;
  revision: string;
  /** Called with each line of output. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** Called once when the process has exited, whatever the cause. */
  onExit: (instance: Instance, reason: string) => void;
  /** Starts the instance's metadata server; its HOST:PORT becomes `GCE_METADATA_HOST`. */
  startMetadataServer: (instanceId: string) => Promise<{ hostPort: string; close(): Promise<void> }>;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  /** Extra delay before the process starts (a fault switch: a slow cold start). */
  coldStartDelayMs: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A running (or starting, or stopped) instance. */
export class Instance {
  /** The id Cloud Run logs as `labels.instanceId` and the metadata server reports: random hex. */
  readonly id = randomBytes(24).toString("hex");
  readonly revision: string;
  port = 0;
  state: InstanceState = "starting";
  /** Requests (and WebSockets) being served now. */
  inFlight = 0;
  /** When the last request finished (epoch ms). */
  idleSince = Date.now();
  /** Sockets through the front end to this instance, so a fault switch can drop them. */
  readonly sockets = new Set<net.Socket>();
  #child: ChildProcess | undefined;
  #metadata: { close(): Promise<void> } | undefined;
  #exited: Promise<void> | undefined;
  readonly #options: InstanceOptions;
  #stopReason = "";

  constructor(options: InstanceOptions) {
    this.#options = options;
    this.revision = options.revision;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process and resolves once it accepts connections; rejects if it exits or times out first. */
  async start(): Promise<void> {
    const o = this.#options;
    if (o.coldStartDelayMs > 0) await new Promise((r) => setTimeout(r, o.coldStartDelayMs));
    if (this.state !== "starting") throw new Error("instance stopped before it started");
    this.port = await freePort();
    const metadata = await o.startMetadataServer(this.id);
    this.#metadata = metadata;
    const [command, ...args] = o.argv;
    const child = spawn(command, args, {
      env: { ...process.env, ...o.env, PORT: String(this.port), GCE_METADATA_HOST: metadata.hostPort },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        this.state = "stopped";
        void this.#metadata?.close();
        o.onExit(this, this.#stopReason || `exited with ${signal ?? `code ${code}`}`);
        resolve();
      });
      child.once("error", (err) => {
        // spawn failures (no such command) emit error without exit.
        if (child.exitCode === null && child.pid === undefined) {
          this.state = "stopped";
          void this.#metadata?.close();
          o.onExit(this, `could not start: ${err.message}`);
          resolve();
        }
      });
    });
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: child[stream]!, crlfDelay: Infinity }).on("line", (line) => o.onLine(line, stream));
    }
    const deadline = Date.now() + o.startupTimeoutMs;
    while (this.state === "starting") {
      if (await accepts(this.port)) {
        this.state = "ready";
        this.idleSince = Date.now();
        return;
      }
      if (Date.now() > deadline) {
        await this.stop("did not listen on $PORT within the startup timeout", 0);
        throw new Error(`the container did not listen on PORT=${this.port} within ${o.startupTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the container exited before listening on PORT=${this.port}: ${this.#stopReason || "it exited"}`);
  }

  /** SIGTERM, then SIGKILL after the grace period (default the plane's); resolves once the process is gone. */
  async stop(reason: string, graceMs = this.#options.shutdownGraceMs): Promise<void> {
    if (this.state === "stopped") return;
    this.#stopReason ||= reason;
    const child = this.#child;
    if (!child || child.pid === undefined) {
      this.state = "stopped";
      await this.#metadata?.close();
      return;
    }
    this.state = "stopping";
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Kills the process at once (a fault switch: the instance crashes). */
  kill(): void {
    this.#stopReason ||= "killed";
    this.#child?.kill("SIGKILL");
  }

  /** Destroys every connection through the front end to this instance (a fault switch). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
