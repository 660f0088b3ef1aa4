/**
 * @module
 * The worker's state: an instance holds at most one machine. A fresh attach on an idle instance runs
 * the handshake and starts the machine; a resume that names the held machine with its token and the
 * session's secret gets a new tunnel to it. Everything else is refused before the upgrade with one of
 * the {@link ATTACH_STATUS} answers. Once accepted (and a fresh attach's handshake done), a tunnel's
 * connection is handed to the machine process, which serves it. When the machine's process exits, or
 * its driver releases it, the worker finishes, so Cloud Run replaces the instance with a clean one.
 *
 * An instance that holds no machine costs as much as one that does (CPU is always allocated), and
 * Cloud Run may keep it up to 15 minutes; so a worker idle for `idleExitMs` (one started at deploy or
 * by the autoscaler that no attach came to) finishes too.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type WebSocket from "ws";
import { errorOf, toBigmachineError } from "../src/core.ts";
import {
  ATTACH_PROTOCOL_VERSION,
  ATTACH_STATUS,
  newResumeToken,
  verifySessionProof,
} from "../src/systems/cloudrun/attach-protocol.ts";
import { closedError, TunnelSocket } from "../src/systems/cloudrun/tunnel-socket.ts";
import { runHandshake, type ProgramCache } from "./handshake.ts";
import { HeldMachine, type Refusal } from "./held-machine.ts";
import { makeMachineFolder, type MachineFolder, type MachineUser } from "./machine-home.ts";
import { MachineProcess, spareCanRun } from "./machine-process.ts";

export type { Refusal } from "./held-machine.ts";

/** The attach headers the worker decides on; null where a header is absent. */
export interface AttachRequest {
  version: string | null;
  secret: string | null;
  proof: string | null;
  machineId: string | null;
  resumeToken: string | null;
}

/**
 * An attach the worker accepted and reserved room for: {@link open} it with the upgraded WebSocket and
 * its connection, or {@link cancel} it when the upgrade never completes. Either is final; the other is
 * then a no-op. Once open, the connection is the worker's to hand to the machine.
 */
export interface Admission {
  open(ws: WebSocket, socket: Socket): void;
  cancel(): void;
}

/** Options for {@link Worker}. */
export interface WorkerOptions {
  deploymentKey: string;
  /** Cloud Run's id of this instance, sent in every hello. */
  instanceId: string;
  programs: ProgramCache;
  handshakeTimeoutMs: number;
  machineStartupTimeoutMs: number;
  stopGraceMs: number;
  endedLingerMs: number;
  /** How long a worker that holds no machine waits for an attach before it finishes. */
  idleExitMs: number;
  /**
   * Called once, when the worker's job is done: its machine was released and ended, or it ended and
   * the linger passed, or the worker was stopped. The process should then exit.
   */
  onFinished(): void;
  /** The environment machines inherit; default the worker's. */
  baseEnv?: NodeJS.ProcessEnv;
  /** The user machines run as (the worker must be root); default the worker's own. */
  machineUser?: MachineUser;
  /**
   * Boot a spare machine process (node, waiting for its program) as the worker starts, so that a
   * fresh attach's machine need not wait for node to start. Default true.
   */
  spare?: boolean;
  /** Where diagnostics go; default standard error. */
  log?: (line: string) => void;
}

/** A spare machine process and its folder. */
interface Spare {
  proc: MachineProcess;
  folder: MachineFolder;
}

/** What the worker is doing, for diagnostics and tests. */
export type WorkerPhase = "idle" | "starting" | "holding" | "ended" | "finished";

/** The attach logic of one instance. */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #log: (line: string) => void;
  /** True from a fresh attach's admission until its machine is held or its start failed. */
  #starting = false;
  /** The process of a machine being started, until it is held. */
  #startingProcess: MachineProcess | undefined;
  #machine: HeldMachine | undefined;
  #stopping = false;
  /** Set when the driver ended the machine's link on purpose. */
  #released = false;
  #finished = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** Set once the held machine's process has ended. */
  #endReported = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** The spare, until a fresh attach takes it. */
  #spare: Promise<Spare | undefined> | undefined;
  #markDone!: () => void;
  readonly #done = new Promise<void>((resolve) => (this.#markDone = resolve));

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    if (options.spare ?? true) this.#spare = this.#bootSpare();
    this.#armIdleExit();
  }

  /** The pid of the spare machine process while one waits for a program; for diagnostics and tests. */
  async sparePid(): Promise<number | undefined> {
    const spare = await this.#spare;
    return spare?.proc.spare ? spare.proc.pid : undefined;
  }

  get phase(): WorkerPhase {
    if (this.#finished) return "finished";
    if (this.#machine !== undefined) return this.#machine.process.exit === undefined ? "holding" : "ended";
    return this.#starting ? "starting" : "idle";
  }

  /** The held machine's id, if any. */
  get machineId(): string | undefined {
    return this.#machine?.id;
  }

  /** Whether a driver's tunnel to the held machine is open (or about to open). */
  get attached(): boolean {
    return this.#machine?.attached ?? false;
  }

  /** Decides on an attach before its upgrade: an admission, or the refusal to answer with. */
  admit(request: AttachRequest): Admission | Refusal {
    if (request.version !== ATTACH_PROTOCOL_VERSION) {
      const named = request.version === null ? "no attach protocol version" : `attach protocol version ${JSON.stringify(request.version.slice(0, 20))}`;
      return { status: ATTACH_STATUS.badRequest, reason: `the request names ${named}; this worker speaks version ${ATTACH_PROTOCOL_VERSION}` };
    }
    if (!verifySessionProof(this.#options.deploymentKey, request.secret, request.proof)) {
      return { status: ATTACH_STATUS.unauthorized, reason: "missing or wrong session secret or proof (is the driver using this service's deployment key?)" };
    }
    return request.machineId === null ? this.#admitFresh(request.secret!) : this.#admitResume(request);
  }

  /**
   * Stops the machine (SIGTERM, on which it tells its tunnel, then SIGKILL after the grace period) and
   * the spare, and finishes. Resolves once finished. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#machine !== undefined && !this.#endReported) {
      await this.#machine.stop(this.#options.stopGraceMs);
      // The end reports itself and then finishes the worker.
      await this.#done;
    } else if (this.#startingProcess !== undefined) {
      await this.#startingProcess.stop(this.#options.stopGraceMs);
    }
    this.#finish();
    await (await this.#spare)?.proc.exited;
  }

  #admitFresh(secret: string): Admission | Refusal {
    if (this.#stopping || this.#finished) return { status: ATTACH_STATUS.busy, reason: "this instance is shutting down" };
    if (this.#machine !== undefined) {
      const why = this.#machine.process.exit === undefined ? "already holds a machine" : "is ending after its machine exited";
      return { status: ATTACH_STATUS.busy, reason: `this instance ${why}` };
    }
    if (this.#starting) return { status: ATTACH_STATUS.busy, reason: "this instance is already starting a machine" };
    this.#starting = true;
    clearTimeout(this.#idleTimer);
    return once({
      open: (ws, socket) => void this.#runFresh(new TunnelSocket(ws), socket, secret),
      cancel: () => {
        this.#starting = false;
        this.#armIdleExit();
      },
    });
  }

  #admitResume(request: AttachRequest): Admission | Refusal {
    const machine = this.#machine;
    if (machine === undefined || machine.id !== request.machineId) {
      return { status: ATTACH_STATUS.unknownMachine, reason: `this instance does not hold machine ${JSON.stringify(request.machineId!.slice(0, 64))}` };
    }
    if (!machine.accepts(request.resumeToken, request.secret)) {
      return { status: ATTACH_STATUS.unauthorized, reason: `wrong resume token or session secret for machine ${machine.id}` };
    }
    const refusal = machine.reserve();
    if (refusal !== undefined) return refusal;
    return once({
      open: (ws, socket) => void handOff(ws, socket).then(() => machine.serve(socket, request.resumeToken!)),
      cancel: () => machine.release(),
    });
  }

  /** A fresh attach after its upgrade: handshake, start the machine, hold it, hand it the tunnel. */
  async #runFresh(tunnel: TunnelSocket, socket: Socket, secret: string): Promise<void> {
    const id = `m-${randomBytes(12).toString("base64url")}`;
    const resumeToken = newResumeToken();
    let proc: MachineProcess | undefined;
    let folder: MachineFolder | undefined;
    try {
      const { exec, programPath } = await runHandshake(tunnel, { machineId: id, resumeToken, instanceId: this.#options.instanceId }, this.#options.programs, this.#options.handshakeTimeoutMs);
      if (this.#stopping) throw errorOf("unavailable", "this instance is shutting down");
      const spare = await this.#takeSpare(exec.env);
      proc = spare?.proc;
      folder = spare?.folder ?? (await makeMachineFolder(this.#options.machineUser));
      const program = { programPath: await folder.place(programPath), args: exec.args, env: exec.env, secret };
      const machineProcess = spare?.proc ?? MachineProcess.start({ ...program, baseEnv: this.#options.baseEnv, home: folder.dir, user: this.#options.machineUser });
      proc = machineProcess;
      this.#log(`bigmachine worker: running program ${exec.digest} in ${spare !== undefined ? "the spare process" : "a new process"} ${machineProcess.pid}`);
      if (spare !== undefined) {
        spare.proc.run(program);
      } else {
        const started = folder;
        void machineProcess.exited.then(() => started.remove());
      }
      this.#startingProcess = machineProcess;
      await untilClosed(machineProcess.ready(this.#options.machineStartupTimeoutMs), tunnel, "the machine started");
      const machine = new HeldMachine({
        id,
        resumeToken,
        secret,
        process: machineProcess,
        log: this.#log,
        onEnded: (_exit, told) => this.#machineEnded(told),
        onReleased: () => {
          // The driver is done with the machine: no one will come back for news of its end.
          this.#released = true;
          void this.#machine?.stop(this.#options.stopGraceMs);
        },
      });
      this.#machine = machine;
      this.#startingProcess = undefined;
      this.#starting = false;
      this.#log(`bigmachine worker: holding machine ${id} (pid ${machineProcess.pid}, program ${exec.digest})`);
      await handOff(tunnel.ws, socket);
      await machine.serve(socket);
    } catch (err) {
      const failure = toBigmachineError(err);
      this.#log(`bigmachine worker: attach failed: ${failure.message}`);
      tunnel.sendControl({ type: "failed", kind: failure.kind, message: failure.message });
      tunnel.close(failure.kind === "invalid" ? 1008 : 1011, "attach failed");
      if (proc !== undefined) await proc.stop(this.#options.stopGraceMs);
      else await folder?.remove();
      this.#startingProcess = undefined;
      this.#starting = false;
      this.#armIdleExit();
    }
  }

  /** Boots the spare in a folder of its own; undefined (and logged) if the folder cannot be made. */
  async #bootSpare(): Promise<Spare | undefined> {
    try {
      const folder = await makeMachineFolder(this.#options.machineUser);
      if (this.#finished) {
        await folder.remove();
        return undefined;
      }
      const proc = MachineProcess.boot({ baseEnv: this.#options.baseEnv, home: folder.dir, user: this.#options.machineUser });
      void proc.exited.then(() => folder.remove());
      return { proc, folder };
    } catch (err) {
      this.#log(`bigmachine worker: no spare machine process: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The spare, now the caller's, if there is one still waiting and it can run a program with `env`. */
  async #takeSpare(env: Record<string, string>): Promise<Spare | undefined> {
    if (this.#spare === undefined || !spareCanRun(env)) return undefined;
    const spare = await this.#spare;
    this.#spare = undefined;
    if (spare === undefined || spare.proc.spare) return spare;
    return undefined;
  }

  /** Finishes the worker after `idleExitMs` unless an attach comes first. */
  #armIdleExit(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.phase !== "idle" || this.#stopping) return;
      this.#log(`bigmachine worker: no machine to hold for ${this.#options.idleExitMs} ms; exiting`);
      this.#finish();
    }, this.#options.idleExitMs);
    this.#idleTimer.unref?.();
  }

  #machineEnded(told: boolean): void {
    this.#endReported = true;
    if (told || this.#stopping || this.#released) return this.#finish();
    // No driver heard it: answer resumes with 410 for a while, so a driver coming back learns how it ended.
    this.#lingerTimer = setTimeout(() => this.#finish(), this.#options.endedLingerMs);
  }

  #finish(): void {
    clearTimeout(this.#lingerTimer);
    clearTimeout(this.#idleTimer);
    if (this.#finished) return;
    this.#finished = true;
    void this.#spare?.then((spare) => spare?.proc.kill("SIGKILL"));
    this.#markDone();
    this.#options.onFinished();
  }
}

/**
 * Readies an upgraded connection to be handed to the machine once the worker's WebSocket on it is done
 * with it: what the worker wrote must be out. (The driver sends nothing until the machine's `ready`,
 * so nothing is read in between; once sent, the connection is gone from this process.)
 */
async function handOff(ws: WebSocket, socket: Socket): Promise<void> {
  ws.removeAllListeners();
  ws.on("error", () => {});
  if (socket.writableLength > 0 && !socket.destroyed) {
    await new Promise<void>((resolve) => {
      socket.once("drain", resolve);
      socket.once("close", resolve);
    });
  }
}

/** Makes an admission's two outcomes mutually exclusive and final. */
function once(admission: Admission): Admission {
  let settled = false;
  return {
    open: (ws, socket) => {
      if (settled) return void ws.terminate();
      settled = true;
      admission.open(ws, socket);
    },
    cancel: () => {
      if (settled) return;
      settled = true;
      admission.cancel();
    },
  };
}

/** `promise`, or a `net` error if the tunnel closes first (the driver left mid-start). */
function untilClosed<T>(promise: Promise<T>, tunnel: TunnelSocket, during: string): Promise<T> {
  const closed = tunnel.closed.then((close) => Promise.reject(closedError(close, `waiting until ${during}`)));
  closed.catch(() => {});
  return Promise.race([promise, closed]);
}
