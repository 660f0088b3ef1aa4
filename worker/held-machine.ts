/**
 * @module
 * The machine an instance holds: its process, the machine's end of the driver's resumable link, the
 * credentials a resume must show, and at most one tunnel at a time. The worker connects to the
 * machine's attach route on loopback once; that connection, and the link's unacknowledged frames, live
 * across tunnels, so a call in flight when a tunnel drops keeps running and its reply reaches the
 * driver over the next tunnel.
 *
 * Resume tokens: every `ready` names the token for the next resume. On a resume it is a fresh one, and
 * the token that resume used stops being accepted once the driver's first frame arrives on the new
 * tunnel (proof it has the new token), so a captured token cannot be replayed later.
 *
 * The end: when the driver closes the link on purpose, the machine is stopped; when the process exits,
 * the open tunnel (if any) hears how, after the machine's last frames.
 */
import type WebSocket from "ws";
import { ResumableLink, toBigmachineError } from "../src/core.ts";
import { ATTACH_STATUS, newResumeToken, sameToken } from "../src/systems/cloudrun/attach-protocol.ts";
import type { TunnelSocket } from "../src/systems/cloudrun/tunnel-socket.ts";
import { describeExit, type MachineExit, type MachineProcess } from "./machine-process.ts";
import { pipeSession } from "./session-pipe.ts";
import { tunnelCarrier } from "./tunnel-carrier.ts";

/** An attach the worker answers without upgrading: an {@link ATTACH_STATUS} and why. */
export interface Refusal {
  status: number;
  reason: string;
}

/** How long the end of the process waits for its loopback connection to deliver its last frames. */
const LAST_FRAMES_WAIT_MS = 1_000;
/** How long the tunnel's closing handshake may take before the connection is cut. */
const CLOSE_WAIT_MS = 2_000;

/** Options for {@link HeldMachine}. */
export interface HeldMachineOptions {
  id: string;
  /** The token the first resume must carry (sent in the fresh attach's hello and ready). */
  resumeToken: string;
  /** The session secret: the machine requires it, and a resume must carry it. */
  secret: string;
  process: MachineProcess;
  /** The open connection to the machine's attach route on loopback. */
  machineSocket: WebSocket;
  /** Called once the process has exited and the open tunnel, if any, was told. */
  onEnded(exit: MachineExit, toldDriver: boolean): void;
  /** Called when the driver ended the link on purpose (or it failed): the machine is no longer wanted. */
  onReleased(err: Error | undefined): void;
  /** Where the holder's diagnostics go; default standard error. */
  log?: (line: string) => void;
}

/** A machine held by this instance. */
export class HeldMachine {
  readonly id: string;
  readonly process: MachineProcess;
  readonly #options: HeldMachineOptions;
  readonly #log: (line: string) => void;
  readonly #session: ResumableLink;
  readonly #machineClosed: Promise<void>;
  /** The tunnel being served, or reserved for one about to open (`"reserved"`). */
  #tunnel: TunnelSocket | "reserved" | undefined;
  /** Tokens a resume may carry: the current one, plus the one last sent until the driver shows it has it. */
  #tokens: string[];

  constructor(options: HeldMachineOptions) {
    this.id = options.id;
    this.process = options.process;
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.#tokens = [options.resumeToken];
    this.#session = new ResumableLink({ label: `machine ${options.id}` });
    this.#session.onDetach(() => {
      if (this.#tunnel !== "reserved") this.#tunnel = undefined;
    });
    void this.#session.ended.then((err) => {
      if (this.process.exit !== undefined) return;
      this.#log(`bigmachine worker: the driver ${err ? `lost machine ${this.id}: ${err.message}` : `released machine ${this.id}`}`);
      options.onReleased(err);
    });
    this.#machineClosed = pipeSession(this.#session, options.machineSocket);
    void this.process.exited.then((exit) => this.#ended(exit));
  }

  /** Whether a tunnel is open to the machine (or reserved for one about to open). */
  get attached(): boolean {
    return this.#tunnel !== undefined;
  }

  /** Whether `token` and `secret` are this machine's, compared in constant time. */
  accepts(token: string | null, secret: string | null): boolean {
    return this.#tokens.some((valid) => sameToken(valid, token)) && sameToken(this.#options.secret, secret);
  }

  /**
   * Reserves the machine for a resume's tunnel; a refusal when it cannot be resumed now. Pair with
   * {@link serve} once the tunnel opens, or {@link release} if it never does.
   */
  reserve(): Refusal | undefined {
    if (this.process.exit !== undefined) return { status: ATTACH_STATUS.ended, reason: `machine ${this.id} ${describeExit(this.process.exit)}` };
    if (this.#session.state === "closed") return { status: ATTACH_STATUS.ended, reason: `machine ${this.id} was released by its driver` };
    if (this.#tunnel !== undefined) return { status: ATTACH_STATUS.busy, reason: `machine ${this.id} already has an open tunnel` };
    this.#tunnel = "reserved";
    return undefined;
  }

  /** Gives up a reservation whose tunnel never opened. */
  release(): void {
    if (this.#tunnel === "reserved") this.#tunnel = undefined;
  }

  /**
   * Serves a tunnel whose handshake is done (a fresh attach) or that needs none (a resume, which came
   * with `resumedWith`): says `ready` with the token for the next resume, and makes the tunnel the
   * link's carrier.
   */
  serve(tunnel: TunnelSocket, resumedWith?: string): void {
    if (this.process.exit !== undefined || this.#session.state === "closed") {
      tunnel.close(1000, "the machine has ended");
      return;
    }
    this.#tunnel = tunnel;
    void tunnel.closed.then(() => {
      if (this.#tunnel === tunnel) this.#tunnel = undefined;
    });
    const next = resumedWith === undefined ? this.#tokens[0] : newResumeToken();
    // Until the driver shows it read `ready`, the token it came with must still work: it may never
    // see the new one if this tunnel drops now.
    if (resumedWith !== undefined) this.#tokens = [resumedWith, next];
    tunnel.sendControl({ type: "ready", machineId: this.id, pid: this.process.pid, resumeToken: next });
    const carrier = tunnelCarrier(tunnel, (text) => {
      this.#log(`bigmachine worker: closing the tunnel of machine ${this.id}: the driver sent a control message while frames flow (${text.slice(0, 80)})`);
      tunnel.sendControl({ type: "failed", kind: "invalid", message: "no control message is expected once the machine is ready" });
      tunnel.close(1008, "unexpected control message");
    });
    this.#session.attach(carrier).then(
      // The driver's RESUME on this tunnel shows it read `ready`: from now on only the new token works.
      () => {
        if (this.#tokens.includes(next)) this.#tokens = [next];
      },
      () => {
        // The tunnel closed before the driver resumed on it; the next resume may use either token.
      },
    );
  }

  /** SIGTERM to the process, then SIGKILL after `graceMs`; the end is reported as for any exit. */
  stop(graceMs: number): Promise<MachineExit> {
    return this.process.stop(graceMs);
  }

  async #ended(exit: MachineExit): Promise<void> {
    // The loopback connection closes as the process ends; its last frames (a shutdown's reply) go first.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#machineClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, LAST_FRAMES_WAIT_MS)))]);
    clearTimeout(timer);
    const tunnel = this.#tunnel;
    let told = false;
    if (tunnel !== undefined && tunnel !== "reserved" && tunnel.open) {
      tunnel.sendControl({ type: "exit", code: exit.code, signal: exit.signal });
      told = true;
      await tunnel.closeAndWait(1000, "machine exited", CLOSE_WAIT_MS);
    }
    this.#session.fail(toBigmachineError(new Error(`machine ${this.id} ${describeExit(exit)}`)));
    this.#log(`bigmachine worker: machine ${this.id} (pid ${this.process.pid}) ${describeExit(exit)}`);
    this.#options.onEnded(exit, told);
  }
}
