/**
 * @module
 * The driver's hold on one Cloud Run machine: a {@link ResumableLink} whose carriers are attach
 * tunnels. It makes the fresh attach (retrying busy instances, queues and cold starts until the start
 * deadline), then keeps the link carried:
 *
 * - **Drops**: when a tunnel drops, it resumes the machine with the first attach's affinity cookie and
 *   the latest resume token, retrying refusals (another instance answered, the old request still holds
 *   the instance) until the keepalive timeout has passed with no tunnel; then the machine is lost.
 * - **Rotation**: a tunnel is replaced before it gets old (`tunnelRotateAfterMs`), break-then-make: at
 *   concurrency 1 the new attach can only reach the instance once the old request has ended.
 * - **The end**: the machine's exit (the worker says how), a refusal that cannot change (410, 401), or
 *   the loss ends the link with that error, which is also what {@link MachineSession.ended} resolves
 *   with, so the machine stops with it. A lost machine is never replaced.
 *
 * Calls in flight across drops and rotations are the link's business: they keep running and their
 * replies arrive over the next tunnel.
 */
import { BigmachineError, errorOf, isFatal, isKind, ResumableLink, sleep, toBigmachineError } from "../../core.ts";
import { attach, resume, type Attached, type AttachOptions, type ProgramToShip, type Resumed, type ResumeOptions } from "./attach-client.ts";

/** What a machine session needs from its System. */
export interface MachineSessionContext {
  /** The service URL attaches go to. */
  serviceUrl: string;
  /** Fresh credentials for one attach: an ID token for the service URL, the secret and its proof. */
  credentials(): Promise<{ idToken: string; secret: string; proof: string }>;
  /**
   * Decides on a refusal the front end answered with 403 (the driver may not invoke the service):
   * resolves to retry it, rejects with the error to give up with.
   */
  forbidden(err: BigmachineError): Promise<void>;
  /** How long a machine may go with no tunnel before it is lost; the keepalive timeout. */
  keepaliveTimeoutMs: number;
  /** Age at which a tunnel is replaced. */
  tunnelRotateAfterMs: number;
  /** Records an event. */
  event(type: string, fields: Record<string, unknown>): void;
  /** The attach client; tests may wrap it. */
  attach?: (url: string, options: AttachOptions) => Promise<Attached>;
  resume?: (url: string, options: ResumeOptions) => Promise<Resumed>;
}

/** What the fresh attach starts. */
export interface MachineStart {
  program: ProgramToShip;
  args: string[];
  env: Record<string, string>;
  /** No attach is retried past this (epoch ms). */
  deadline: number;
}

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;

/** One machine's resumable link to the driver, over successive attach tunnels. */
export class MachineSession {
  /** The driver's name for the machine (its address). */
  readonly addr: string;
  readonly link: ResumableLink;
  /** Resolves once the fresh attach has been made and the link carries frames; rejects if it never is. */
  readonly ready: Promise<void>;
  /** Resolves, never rejects, once the machine is gone for this driver, with why. */
  readonly ended: Promise<BigmachineError>;
  readonly #context: MachineSessionContext;
  readonly #abort = new AbortController();
  #markEnded!: (err: BigmachineError) => void;
  #machineId: string | undefined;
  #instanceId: string | undefined;
  #resumeToken: string | undefined;
  #cookie: string | undefined;
  #rotationTimer: NodeJS.Timeout | undefined;
  #reconnecting = false;
  #resumes = 0;
  #rotations = 0;

  constructor(addr: string, context: MachineSessionContext, start: MachineStart) {
    this.addr = addr;
    this.#context = context;
    this.link = new ResumableLink({ label: addr });
    this.ended = new Promise((resolve) => (this.#markEnded = resolve));
    this.link.onDetach((err) => this.#detached(err));
    void this.link.ended.then((err) => this.#linkEnded(err));
    this.ready = this.#attachFresh(start);
    this.ready.catch((err: unknown) => this.#end(toBigmachineError(err)));
  }

  /** Cloud Run's id of the instance holding the machine, once attached. */
  get instanceId(): string | undefined {
    return this.#instanceId;
  }

  /** The worker's id of the machine, once attached. */
  get machineId(): string | undefined {
    return this.#machineId;
  }

  /** Resumes and rotations so far; for diagnostics and tests. */
  get stats(): { resumes: number; rotations: number } {
    return { resumes: this.#resumes, rotations: this.#rotations };
  }

  /** Replaces the current tunnel now, as rotation does; for tests and tools. */
  rotate(): void {
    if (this.link.state !== "attached") return;
    this.#rotations++;
    this.#context.event("cloudrun:rotate", { machine: this.addr });
    this.link.detach("rotating the tunnel");
  }

  /** Ends the hold: the worker hears the link close (and stops the machine); nothing is retried. Idempotent. */
  close(reason = "the driver closed the machine"): void {
    this.#abort.abort(errorOf("canceled", reason, { severity: "fatal" }));
    this.link.close(reason);
  }

  async #attachFresh(start: MachineStart): Promise<void> {
    const attachTo = this.#context.attach ?? attach;
    let backoff = FIRST_BACKOFF_MS;
    let attached: Attached;
    for (;;) {
      this.#checkOpen();
      try {
        attached = await attachTo(this.#context.serviceUrl, {
          ...(await this.#context.credentials()),
          program: start.program,
          args: start.args,
          env: start.env,
          signal: this.#abort.signal,
          timeoutMs: Math.max(1, start.deadline - Date.now()),
        });
        break;
      } catch (err) {
        const e = this.#wrapAbort(err);
        if (!(await this.#retriable(e))) throw e;
        if (Date.now() + backoff >= start.deadline) {
          throw errorOf("unavailable", `no instance of ${this.#context.serviceUrl} took machine ${this.addr} before the start deadline (are max instances reached?): ${e.message}`, {
            severity: "fatal",
            cause: e,
          });
        }
        await this.#pause(backoff);
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
    this.#machineId = attached.hello.machineId;
    this.#instanceId = attached.hello.instanceId;
    this.#resumeToken = attached.ready.resumeToken;
    // The first attach's cookie steers every resume: that is the instance holding the machine.
    this.#cookie = attached.cookie;
    this.#context.event("cloudrun:attached", { machine: this.addr, instance: this.#instanceId, machineId: this.#machineId, shipped: attached.shipped });
    try {
      await this.link.attach(attached.link);
      this.#scheduleRotation();
    } catch {
      // Dropped at once: the detach handler is already resuming it.
    }
  }

  #detached(err: Error | undefined): void {
    clearTimeout(this.#rotationTimer);
    if (this.link.state === "closed" || this.#abort.signal.aborted) return;
    // The worker said the machine ended, or gave up on it: nothing to resume.
    if (err !== undefined && isFatal(err)) return this.link.fail(err);
    if (this.#machineId === undefined || this.#reconnecting) return;
    this.#context.event("cloudrun:tunnelLost", { machine: this.addr, error: err?.message });
    void this.#reconnect(Date.now() + this.#context.keepaliveTimeoutMs);
  }

  /** Resumes until a tunnel carries the link again, the machine is gone, or `deadline` passes. */
  async #reconnect(deadline: number): Promise<void> {
    this.#reconnecting = true;
    const resumeWith = this.#context.resume ?? resume;
    let backoff = FIRST_BACKOFF_MS;
    try {
      for (;;) {
        if (this.#over()) return;
        try {
          const resumed = await resumeWith(this.#context.serviceUrl, {
            ...(await this.#context.credentials()),
            cookie: this.#cookie,
            machineId: this.#machineId!,
            resumeToken: this.#resumeToken!,
            signal: this.#abort.signal,
            timeoutMs: Math.max(1, deadline - Date.now()),
          });
          this.#resumeToken = resumed.ready.resumeToken;
          await this.link.attach(resumed.link);
          this.#resumes++;
          this.#context.event("cloudrun:resumed", { machine: this.addr });
          this.#scheduleRotation();
          return;
        } catch (err) {
          if (this.#over()) return;
          const e = toBigmachineError(err);
          if (!(await this.#retriable(e).catch((fatal: unknown) => this.link.fail(toBigmachineError(fatal))))) {
            if (!this.#over()) this.link.fail(errorOf("unavailable", `machine ${this.addr} cannot be resumed: ${e.message}`, { severity: "fatal", cause: e }));
            return;
          }
          if (Date.now() + backoff >= deadline) {
            this.link.fail(
              errorOf("unavailable", `lost: no tunnel to machine ${this.addr} (instance ${this.#instanceId}) could be resumed within ${this.#context.keepaliveTimeoutMs} ms; last error: ${e.message}`, {
                severity: "fatal",
                cause: e,
              }),
            );
            return;
          }
          await this.#pause(backoff).catch(() => {});
          backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
        }
      }
    } finally {
      this.#reconnecting = false;
      // A tunnel that dropped while this resume was finishing has not been resumed yet.
      if (this.link.state === "detached" && !this.#abort.signal.aborted) this.#detached(undefined);
    }
  }

  /** Whether `err` is worth another attempt: temporary ones are; a front-end 403 is if the System says so. */
  async #retriable(err: BigmachineError): Promise<boolean> {
    if (isKind(err, "canceled")) return false;
    if (isKind(err, "unauthorized") && /refused by the service with HTTP 403/.test(err.message)) {
      await this.#context.forbidden(err);
      return true;
    }
    return !isFatal(err);
  }

  #scheduleRotation(): void {
    clearTimeout(this.#rotationTimer);
    this.#rotationTimer = setTimeout(() => this.rotate(), this.#context.tunnelRotateAfterMs);
    this.#rotationTimer.unref();
  }

  #linkEnded(err: Error | undefined): void {
    clearTimeout(this.#rotationTimer);
    this.#end(err === undefined ? errorOf("canceled", `machine ${this.addr} was closed by the driver`, { severity: "fatal" }) : toBigmachineError(err));
  }

  #end(err: BigmachineError): void {
    clearTimeout(this.#rotationTimer);
    if (err.message.startsWith("lost:")) this.#context.event("cloudrun:lost", { machine: this.addr, error: err.message });
    if (this.link.state !== "closed") this.link.fail(err);
    this.#markEnded(err);
  }

  /** Whether the link has ended or the hold was closed (a method, so checks are not narrowed across awaits). */
  #over(): boolean {
    return this.link.state === "closed" || this.#abort.signal.aborted;
  }

  #checkOpen(): void {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason;
  }

  #wrapAbort(err: unknown): BigmachineError {
    if (this.#abort.signal.aborted) return toBigmachineError(this.#abort.signal.reason);
    return toBigmachineError(err);
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms * (0.75 + Math.random() / 2), this.#abort.signal);
  }
}
