/**
 * @module
 * The machine an instance holds: its process, the credentials a resume must show, and at most one
 * tunnel at a time. The worker accepts each tunnel and hands its connection to the machine process,
 * which holds its end of the driver's resumable link (`src/systems/cloudrun/machine-tunnels.ts`):
 * the worker never touches a frame. What it learns of the tunnels it learns from the machine's
 * reports: a tunnel closed (a resume may come), the driver resumed on one, the link ended.
 *
 * A resume with the right credentials is taken even while the machine still holds a tunnel: the new
 * one replaces it. The driver resumes only once its end of a tunnel is gone, and the machine may learn
 * of that later than the driver does (a connection whose far end vanished, or a close still on its way
 * over the IPC channel). Refusing such a resume would leave the instance without a request while the
 * driver retries, and Cloud Run may shut down an instance without one at any moment.
 *
 * Resume tokens: every `ready` names the token for the next resume. On a resume it is a fresh one, and
 * the token that resume used stops being accepted once the driver's first frame arrives on the new
 * tunnel (proof it has the new token), so a captured token cannot be replayed later.
 *
 * The end: when the driver closes the link on purpose, the machine is stopped; when the process exits,
 * the machine has told its open tunnel how where it could (and says so), and resumes are answered with
 * 410 and how it ended.
 */
import type { Socket } from "node:net";
import { ATTACH_STATUS, newResumeToken, sameToken } from "../src/systems/cloudrun/attach-protocol.ts";
import type { MachineReport } from "../src/systems/cloudrun/machine-ipc.ts";
import { describeExit, type MachineExit, type MachineProcess } from "./machine-process.ts";

/** An attach the worker answers without upgrading: an {@link ATTACH_STATUS} and why. */
export interface Refusal {
  status: number;
  reason: string;
}

/** Options for {@link HeldMachine}. */
export interface HeldMachineOptions {
  id: string;
  /** The token the first resume must carry (sent in the fresh attach's hello and ready). */
  resumeToken: string;
  /** The session secret: a resume must carry it. */
  secret: string;
  /** The machine's process, ready to take tunnels. */
  process: MachineProcess;
  /** Called once the process has exited; `told` if it said so on its open tunnel. */
  onEnded(exit: MachineExit, told: boolean): void;
  /** Called when the driver ended the link on purpose (or it failed): the machine is no longer wanted. */
  onReleased(): void;
  /** Where the holder's diagnostics go; default standard error. */
  log?: (line: string) => void;
}

/** A machine held by this instance. */
export class HeldMachine {
  readonly id: string;
  readonly process: MachineProcess;
  readonly #options: HeldMachineOptions;
  readonly #log: (line: string) => void;
  /** The number of the tunnel the machine serves, or `"reserved"` for one about to open. */
  #tunnel: number | "reserved" | undefined;
  /** What `#tunnel` was before a reservation, to restore if the reserved tunnel never opens. */
  #beforeReservation: number | undefined;
  #tunnelCount = 0;
  /** Set once the machine reported that its link ended. */
  #linkEnded = false;
  /** Set once the machine reported that it told its open tunnel it is exiting. */
  #exitTold = false;
  /** Tokens a resume may carry: the current one, plus the one last sent until the driver shows it has it. */
  #tokens: string[];
  /** The token sent with each tunnel, by tunnel number, until the driver resumes on it or it closes. */
  readonly #sent = new Map<number, string>();

  constructor(options: HeldMachineOptions) {
    this.id = options.id;
    this.process = options.process;
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.#tokens = [options.resumeToken];
    options.process.onReport((report) => this.#onReport(report));
    void this.process.exited.then((exit) => {
      this.#log(`bigmachine worker: machine ${this.id} (pid ${this.process.pid}) ${describeExit(exit)}`);
      options.onEnded(exit, this.#exitTold);
    });
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
    if (this.#linkEnded) return { status: ATTACH_STATUS.ended, reason: `machine ${this.id} was released by its driver` };
    if (this.#tunnel === "reserved") return { status: ATTACH_STATUS.busy, reason: `machine ${this.id} is taking another resume` };
    this.#beforeReservation = this.#tunnel;
    this.#tunnel = "reserved";
    return undefined;
  }

  /** Gives up a reservation whose tunnel never opened. */
  release(): void {
    if (this.#tunnel === "reserved") this.#tunnel = this.#beforeReservation;
  }

  /**
   * Hands the connection of a tunnel whose handshake is done (a fresh attach) or that needs none (a
   * resume, which came with `resumedWith`) to the machine, which says `ready` on it with the token
   * for the next resume and carries its link over it. The worker must no longer read or write
   * `socket`; its writes so far must be out.
   */
  async serve(socket: Socket, resumedWith?: string): Promise<void> {
    if (this.process.exit !== undefined || this.#linkEnded || socket.destroyed) {
      // (A connection that closed before it could be handed over is as good as a tunnel that dropped.)
      socket.destroy();
      this.release();
      return;
    }
    const tunnel = ++this.#tunnelCount;
    this.#tunnel = tunnel;
    const next = resumedWith === undefined ? this.#tokens[0] : newResumeToken();
    // Until the driver shows it read `ready`, the token it came with must still work: it may never
    // see the new one if this tunnel drops now.
    if (resumedWith !== undefined) this.#tokens = [resumedWith, next];
    this.#sent.set(tunnel, next);
    try {
      await this.process.handOver({ type: "bigmachine:tunnel", tunnel, machineId: this.id, resumeToken: next }, socket);
    } catch (err) {
      this.#log(`bigmachine worker: ${(err as Error).message}`);
      this.#onReport({ type: "bigmachine:tunnel-closed", tunnel });
    }
  }

  /** SIGTERM to the process, then SIGKILL after `graceMs`; the end is reported as for any exit. */
  stop(graceMs: number): Promise<MachineExit> {
    return this.process.stop(graceMs);
  }

  #onReport(report: MachineReport): void {
    switch (report.type) {
      case "bigmachine:resumed": {
        // The driver's RESUME on this tunnel shows it read `ready`: from now on only the new token works.
        const next = this.#sent.get(report.tunnel);
        this.#sent.delete(report.tunnel);
        if (next !== undefined && this.#tokens.includes(next)) this.#tokens = [next];
        return;
      }
      case "bigmachine:tunnel-closed":
        // Closed before the driver resumed on it: the next resume may use either token.
        this.#sent.delete(report.tunnel);
        if (this.#tunnel === report.tunnel) this.#tunnel = undefined;
        return;
      case "bigmachine:exit-told":
        this.#exitTold = true;
        return;
      case "bigmachine:link-ended":
        if (this.#linkEnded || this.process.exit !== undefined) return;
        this.#linkEnded = true;
        this.#log(`bigmachine worker: the driver ${report.error ? `lost machine ${this.id}: ${report.error}` : `released machine ${this.id}`}`);
        this.#options.onReleased();
        return;
    }
  }
}
