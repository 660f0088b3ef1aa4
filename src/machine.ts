/**
 * @module
 * A Machine is one member of a bigmachine cluster, as seen from the driver (or from another machine that
 * dialed it): an address, a state, a tunnel to its supervisor and services, and a keepalive loop.
 *
 * Machine states proceed monotonically: unstarted < starting < running < stopped. A stopped machine
 * has an error saying why, and every call on it fails with that error.
 */
import { BigmachineError, errorOf, isFatal, isKind, isTemporary, toBigmachineError } from "./errors.ts";
import type { DiskInfo, LoadInfo, MemInfo } from "./host-info.ts";
import { serviceClient, type Caller, type ServiceClient } from "./proxy.ts";
import { RpcPeer } from "./rpc/index.ts";
import type { CallOptions, Dispatcher, MethodStats } from "./rpc/types.ts";
import { serviceSpec, type ServiceHandle } from "./services.ts";
import type { KeepaliveReply, MachineInfo } from "./supervisor.ts";
import { SUPERVISOR } from "./supervisor.ts";
import type { KeepaliveConfig, LogLine, System } from "./system.ts";
import { sleep } from "./util/sleep.ts";

/** The states of a machine, in the order they are passed. */
export const MACHINE_STATES = ["unstarted", "starting", "running", "stopped"] as const;
export type MachineState = (typeof MACHINE_STATES)[number];
const RANK: Record<MachineState, number> = { unstarted: 0, starting: 1, running: 2, stopped: 3 };

/** How systems create machines. */
export interface MachineOptions {
  /** Where the machine is reached, in the system's address form (e.g. `127.0.0.1:4567`). */
  addr: string;
  /** Processors on the machine, if the system knows; otherwise learned from the machine. */
  maxprocs?: number;
  /**
   * Settles when the system knows the machine is gone (its process exited). The machine then stops at
   * once with this error instead of waiting for keepalives to notice.
   */
  exited?: Promise<Error>;
}

/** What to install on machines when they start. */
export interface MachineParams {
  /** Service instances by the name they are called by; their classes must be registered. */
  services?: Record<string, object>;
  /** Environment variables set on the machine before services are installed. */
  env?: Record<string, string>;
  /** Program arguments (`process.argv` after the entry) set on the machine. */
  args?: string[];
}

/** Backoff settings for {@link Machine.retryCall}. */
export interface RetryOptions {
  /** Retries after the first attempt; default 5. */
  retries?: number;
  /** First backoff; default 100 ms, growing 1.5x with jitter. */
  initialBackoffMs?: number;
  /** Largest backoff; default 5 s. */
  maxBackoffMs?: number;
}

/** How a machine is run by its session. @internal */
export interface MachineRuntime {
  system: System;
  /** True for machines the session started (kept alive); false for dialed ones (only pinged). */
  owned: boolean;
  params?: MachineParams;
  /** Serves calls the machine makes back over its tunnel. */
  dispatcher?: Dispatcher;
  /** Whether the session is shutting down (an exit is then expected, not an error). */
  shuttingDown: () => boolean;
  /** Whether the machine's error replies should carry stacks (the session's `errorStacks`). */
  errorStacks?: boolean;
}

const REPLY_TIMES_KEPT = 16;

/** One machine of the cluster. Create machines with `Session.startMachines` or `Session.dial`. */
export class Machine implements Caller {
  /** The machine's address. */
  readonly addr: string;
  #state: MachineState = "unstarted";
  #err: BigmachineError | undefined;
  #maxprocs: number;
  #waiters: { rank: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  #runtime: MachineRuntime | undefined;
  #config: KeepaliveConfig | undefined;
  #peer: RpcPeer | undefined;
  #connecting: Promise<RpcPeer> | undefined;
  readonly #lifetime = new AbortController();
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #lastKeepalive = 0;
  #nextKeepalive = 0;
  #replyTimes: number[] = [];
  #healthy = true;
  readonly #exited: Promise<Error> | undefined;

  constructor(options: MachineOptions) {
    this.addr = options.addr;
    this.#maxprocs = options.maxprocs ?? 0;
    this.#exited = options.exited;
  }

  /** The current state. */
  get state(): MachineState {
    return this.#state;
  }

  /** Why the machine stopped; undefined until it has. */
  get err(): BigmachineError | undefined {
    return this.#err;
  }

  /** Whether this session started the machine (and keeps it alive), as opposed to dialing it. */
  get owned(): boolean {
    return this.#runtime?.owned ?? true;
  }

  /** Processors on the machine (0 until known). */
  get maxprocs(): number {
    return this.#maxprocs;
  }

  /** False when the machine last reported memory use above 95%. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Round-trip times of the most recent keepalives, in milliseconds, oldest first. */
  keepaliveReplyTimes(): number[] {
    return [...this.#replyTimes];
  }

  /** When the next keepalive is due (epoch ms), or 0 if none is scheduled. */
  get nextKeepalive(): number {
    return this.#nextKeepalive;
  }

  /** Per-method stats of calls made to this machine from here. */
  stats(): Record<string, MethodStats> {
    return this.#peer?.stats() ?? {};
  }

  /**
   * Resolves once the machine reaches `state` or a later one. Waiting for a state before `stopped`
   * rejects with the machine's error if it stops first. Rejects with kind `canceled` when `signal`
   * aborts, at once if it already has.
   */
  waitFor(state: MachineState, signal?: AbortSignal): Promise<void> {
    const rank = RANK[state];
    if (RANK[this.#state] >= rank) {
      return this.#state === "stopped" && state !== "stopped" ? Promise.reject(this.#err) : Promise.resolve();
    }
    const canceled = () => errorOf("canceled", `waiting for machine ${this.addr} to be ${state} was canceled`, { cause: signal?.reason });
    if (signal?.aborted) return Promise.reject(canceled());
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(canceled());
      };
      // Settled either way, the waiter lets go of the signal.
      const waiter = {
        rank,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (err: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Calls `Service.method` with `arg` once the machine is running. Fails fast (with the machine's error)
   * once it has stopped. A network failure of this call is kind `net`; the method's own error arrives as
   * kind `remote`.
   */
  call<TResult = unknown>(method: string, arg?: unknown, options?: CallOptions): Promise<TResult> {
    const peer = this.#peer;
    if (this.#state === "running" && peer !== undefined && !peer.isClosed) {
      return peer.call<TResult>(method, arg, options).catch((err) => this.#callFailed(err));
    }
    return this.#callWhenReady<TResult>(method, arg, options);
  }

  /**
   * Like {@link call}, but retries errors whose severity is temporary (a dropped tunnel, an injected
   * network fault, a remote error marked temporary) with backoff. A streamed argument cannot be sent
   * twice, so it is never retried. An abort of `options.signal` ends it with kind `canceled`, during a
   * backoff too.
   */
  async retryCall<TResult = unknown>(method: string, arg?: unknown, options: CallOptions & RetryOptions = {}): Promise<TResult> {
    const retries = options.retries ?? 5;
    let backoff = options.initialBackoffMs ?? 100;
    const maxBackoff = options.maxBackoffMs ?? 5_000;
    const streamed = arg !== null && typeof arg === "object" && Symbol.asyncIterator in arg;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.call<TResult>(method, arg, options);
      } catch (err) {
        if (streamed || attempt >= retries || !isTemporary(err) || this.#state === "stopped" || options.signal?.aborted) throw err;
        this.#runtime?.system.event("bigmachine:retry", { machine: this.addr, method, attempt, error: String(err) });
        await sleep(backoff * (0.75 + Math.random() / 2), options.signal).catch((reason: unknown) => {
          throw errorOf("canceled", `${method} on machine ${this.addr}: canceled while waiting to retry (${toBigmachineError(err).message})`, { severity: "fatal", cause: reason });
        });
        backoff = Math.min(maxBackoff, backoff * 1.5);
      }
    }
  }

  /**
   * The typed client of the service installed as `name`, or as the name a {@link ServiceHandle} was
   * registered under: `machine.service<CirclePI>("PI")` or `machine.service(PI)`.
   */
  service<T>(name: string): ServiceClient<T>;
  service<T extends object>(handle: ServiceHandle<T>): ServiceClient<T>;
  service<T>(service: string | ServiceHandle<T & object>): ServiceClient<T> {
    return serviceClient<T>(this, typeof service === "string" ? service : service.name);
  }

  /** Stops the machine from this side: keepalives end, pending and later calls fail with kind `canceled`. */
  cancel(): void {
    this.#stop(errorOf("canceled", `machine ${this.addr} was canceled`, { severity: "fatal" }));
  }

  /** Describes the machine: runtime, platform, program digest, services. */
  info(): Promise<MachineInfo> {
    return this.call(`${SUPERVISOR}.info`);
  }

  memInfo(): Promise<MemInfo> {
    return this.call(`${SUPERVISOR}.memInfo`);
  }

  diskInfo(): Promise<DiskInfo> {
    return this.call(`${SUPERVISOR}.diskInfo`);
  }

  loadInfo(): Promise<LoadInfo> {
    return this.call(`${SUPERVISOR}.loadInfo`);
  }

  /** The machine's metrics snapshot (Go's expvars) with its RPC server's stats. */
  metrics(): Promise<Record<string, unknown>> {
    return this.call(`${SUPERVISOR}.metrics`);
  }

  /** A CPU profile of the machine over `durationMs` (the `.cpuprofile` JSON). */
  cpuProfile(durationMs: number, options?: CallOptions): Promise<object> {
    return this.call(`${SUPERVISOR}.cpuProfile`, { durationMs }, options);
  }

  /** A heap snapshot of the machine, streamed as chunks of the `.heapsnapshot` file. */
  heapSnapshot(options?: CallOptions): Promise<AsyncIterable<Uint8Array>> {
    return this.call(`${SUPERVISOR}.heapSnapshot`, undefined, options);
  }

  /** Follows the machine's output, through its system. */
  tail(signal?: AbortSignal): AsyncIterable<LogLine> {
    return this.#system().tail(this, signal);
  }

  /** Reads a file on the machine's host, through its system (not through the machine). */
  read(filename: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#system().read(this, filename, signal);
  }

  /** Starts the machine: connect, install params, then keep it alive. @internal */
  async _start(runtime: MachineRuntime): Promise<void> {
    if (this.#runtime) throw errorOf("precondition", `machine ${this.addr} was already started`, { severity: "fatal" });
    this.#runtime = runtime;
    this.#config = runtime.system.keepaliveConfig();
    this.#exited?.then((err) => this.#stop(this.#exitError(err)), () => {});
    if (this.#state === "stopped") return;
    this.#setState("starting");
    try {
      this.#lastKeepalive = Date.now();
      const peer = await this.#connect();
      await this.#keepaliveCall(peer);
      if (runtime.owned) await this.#install(peer, runtime.params ?? {});
      if (!this.#maxprocs) this.#maxprocs = (await peer.call<MachineInfo>(`${SUPERVISOR}.info`, undefined, { timeoutMs: this.#config.rpcTimeoutMs })).maxprocs;
      this.#setState("running");
      this.#scheduleKeepalive(this.#config.periodMs);
      runtime.system.event("bigmachine:machineStarted", { machine: this.addr });
    } catch (err) {
      this.#stop(this.#err ?? errorOf("unavailable", `machine ${this.addr} failed to start: ${toBigmachineError(err).message}`, { severity: "fatal", cause: err }));
    }
  }

  /** Stops the machine with `err` (first error wins). @internal */
  _stop(err: BigmachineError): void {
    this.#stop(err);
  }

  async #install(peer: RpcPeer, params: MachineParams): Promise<void> {
    const timeoutMs = this.#config!.rpcTimeoutMs;
    // First, so that a failing service init already comes back with its stack.
    if (this.#runtime?.errorStacks) await peer.call(`${SUPERVISOR}.errorStacks`, true, { timeoutMs });
    if (params.env && Object.keys(params.env).length > 0) await peer.call(`${SUPERVISOR}.setenv`, params.env, { timeoutMs });
    if (params.args) await peer.call(`${SUPERVISOR}.setargs`, params.args, { timeoutMs });
    for (const [name, instance] of Object.entries(params.services ?? {})) {
      // Service init hooks may take a while (loading data): no deadline beyond the machine's life.
      await peer.call(`${SUPERVISOR}.register`, serviceSpec(name, instance), { signal: this.#lifetime.signal });
    }
  }

  async #callWhenReady<TResult>(method: string, arg: unknown, options?: CallOptions): Promise<TResult> {
    if (this.#state === "stopped") throw this.#stoppedError();
    await this.waitFor("running", options?.signal);
    const peer = await this.#connected();
    return peer.call<TResult>(method, arg, options).catch((err) => this.#callFailed(err));
  }

  #callFailed(err: unknown): never {
    // A call cut short because the machine stopped reports why the machine stopped.
    if (this.#state === "stopped" && isKind(err, "net")) throw this.#stoppedError(err);
    throw err;
  }

  #stoppedError(cause?: unknown): BigmachineError {
    const err = this.#err!;
    return new BigmachineError(`machine ${this.addr} stopped: ${err.message}`, { kind: err.kind === "canceled" ? "canceled" : "unavailable", severity: "fatal", cause: cause ?? err });
  }

  #exitError(err: Error): BigmachineError {
    if (this.#runtime?.shuttingDown()) return errorOf("canceled", `machine ${this.addr} was shut down`, { severity: "fatal" });
    return errorOf("unavailable", `machine ${this.addr} exited: ${err.message}`, { severity: "fatal", cause: err });
  }

  /** The live peer, reconnecting if the tunnel dropped. */
  #connected(): Promise<RpcPeer> {
    const peer = this.#peer;
    if (peer !== undefined && !peer.isClosed) return Promise.resolve(peer);
    if (this.#state === "stopped") return Promise.reject(this.#stoppedError());
    return (this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined)));
  }

  /** Dials the machine until it answers or it has been unreachable for the keepalive timeout. */
  async #connect(): Promise<RpcPeer> {
    const runtime = this.#runtime!;
    const deadline = this.#lastKeepalive + this.#config!.timeoutMs;
    let backoff = 25;
    for (;;) {
      if (this.#state === "stopped") throw this.#stoppedError();
      try {
        const link = await runtime.system.httpClient().connect(this.addr, { signal: this.#lifetime.signal });
        if (this.#isStopped()) {
          link.close("machine stopped");
          throw this.#stoppedError();
        }
        const peer = new RpcPeer(link, { dispatcher: runtime.dispatcher, label: this.addr });
        this.#peer = peer;
        peer.closed.then((err) => this.#peerClosed(peer, err), () => {});
        return peer;
      } catch (err) {
        // Refused credentials, and whatever the system says no retry will mend (its cause may be the
        // refusal), end the dialing now; anything else is retried until the keepalive timeout.
        if (this.#isStopped() || isKind(err, "unauthorized") || isFatal(err) || Date.now() + backoff > deadline) throw err;
        await sleep(backoff, this.#lifetime.signal).catch(() => {});
        backoff = Math.min(1_000, backoff * 2);
      }
    }
  }

  #peerClosed(peer: RpcPeer, err: Error | undefined): void {
    if (this.#peer !== peer) return;
    this.#peer = undefined;
    if (this.#state === "stopped") return;
    this.#runtime?.system.event("bigmachine:tunnelClosed", { machine: this.addr, error: err ? String(err) : undefined });
    // Reconnect eagerly so calls wait for a tunnel rather than fail one by one; keepalives decide loss.
    if (this.#state === "running") this.#connected().catch(() => {});
  }

  async #keepaliveCall(peer: RpcPeer): Promise<void> {
    const config = this.#config!;
    const t0 = performance.now();
    if (this.owned) {
      const reply = await peer.call<KeepaliveReply>(`${SUPERVISOR}.keepalive`, { nextMs: config.timeoutMs }, { timeoutMs: config.rpcTimeoutMs });
      this.#healthy = reply.healthy;
    } else {
      await peer.call(`${SUPERVISOR}.ping`, 0, { timeoutMs: config.rpcTimeoutMs });
    }
    this.#replyTimes.push(performance.now() - t0);
    if (this.#replyTimes.length > REPLY_TIMES_KEPT) this.#replyTimes.shift();
    this.#lastKeepalive = Date.now();
  }

  #scheduleKeepalive(delayMs: number): void {
    if (this.#state === "stopped") return;
    this.#nextKeepalive = Date.now() + delayMs;
    this.#keepaliveTimer = setTimeout(() => void this.#keepalive(), delayMs);
    this.#keepaliveTimer.unref();
  }

  async #keepalive(): Promise<void> {
    const config = this.#config!;
    try {
      const peer = await this.#connected();
      await this.#keepaliveCall(peer);
      this.#scheduleKeepalive(config.periodMs);
    } catch (err) {
      if (this.#state === "stopped") return;
      const silentFor = Date.now() - this.#lastKeepalive;
      if (silentFor >= config.timeoutMs || isKind(err, "unauthorized") || isFatal(err)) {
        const e = toBigmachineError(err);
        this.#runtime!.system.keepaliveFailed(this, e);
        this.#stop(errorOf("unavailable", `machine ${this.addr} lost: no keepalive for ${silentFor} ms (${e.message})`, { severity: "fatal", cause: e }));
        return;
      }
      // Try again soon, but within the timeout window.
      this.#scheduleKeepalive(Math.min(config.periodMs, Math.max(50, (config.timeoutMs - silentFor) / 4)));
    }
  }

  #setState(state: MachineState): void {
    if (RANK[state] <= RANK[this.#state]) return;
    this.#state = state;
    const rank = RANK[state];
    const ready = this.#waiters.filter((w) => w.rank <= rank);
    this.#waiters = this.#waiters.filter((w) => w.rank > rank);
    for (const w of ready) w.resolve();
    if (state === "stopped") {
      for (const w of this.#waiters) w.reject(this.#err!);
      this.#waiters = [];
    }
  }

  #stop(err: BigmachineError): void {
    if (this.#state === "stopped") return;
    this.#err = err;
    // Waiters for `running` see the error; waiters for `stopped` resolve.
    const pending = this.#waiters;
    this.#waiters = pending.filter((w) => w.rank === RANK.stopped);
    for (const w of pending) if (w.rank !== RANK.stopped) w.reject(err);
    this.#setState("stopped");
    clearTimeout(this.#keepaliveTimer);
    this.#nextKeepalive = 0;
    this.#lifetime.abort(err);
    this.#peer?.close(err.message);
    this.#runtime?.system.event("bigmachine:machineStopped", { machine: this.addr, error: err.message });
  }

  // A method, so TypeScript does not narrow the state across awaits.
  #isStopped(): boolean {
    return this.#state === "stopped";
  }

  #system(): System {
    if (!this.#runtime) throw errorOf("precondition", `machine ${this.addr} has not been started by a session`, { severity: "fatal" });
    return this.#runtime.system;
  }
}
