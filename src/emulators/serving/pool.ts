/**
 * @module
 * The instances of one service and which of them serves each request: Cloud Run's scheduling, as far
 * as a client can observe it.
 *
 * - A request goes to a ready instance of the serving revision with a free slot (fewer requests in
 *   flight than the revision's concurrency), preferring the one its affinity cookie names, else the
 *   least loaded, rotating among equals.
 * - With no free slot it waits in a queue; the pool starts instances for the queue (a cold start), up
 *   to the revision's max instances. A request still queued after its wait fails with
 *   {@link QueueTimeoutError} (the front end answers 429). Two waits apply, as on Cloud Run: a request
 *   an instance is starting for waits the cold-start wait (max(3.5 × the average startup, 10 s) unless
 *   set); one that arrives with every instance the revision may have busy waits the max-instances wait
 *   (60 s).
 * - An instance that fails to start fails the queued requests it was started for with
 *   {@link StartFailedError} (503) instead of being started again at once, so a crashing container
 *   does not spin.
 * - The min instance count of the serving revision is kept warm: a lost instance is replaced, with a
 *   backoff when replacements fail.
 * - An idle instance beyond the minimum is stopped after the idle timeout; with chaos on, any idle
 *   instance, min instances included, may also be reclaimed at a random moment.
 * - When a new revision takes over, instances of older revisions finish what they serve and stop.
 */
import type { RevisionConfig } from "./config.ts";
import type { Instance } from "./instance.ts";
import { RequestQueue, type Lease } from "./queue.ts";

export { QueueTimeoutError, type Lease } from "./queue.ts";

/** A revision of the service: its name and settings. */
export interface Revision {
  name: string;
  config: RevisionConfig;
  /** The command its instances run. */
  argv: string[];
  /** The image's own environment (its `ENV` lines). */
  imageEnv: Record<string, string>;
}

/** Why an instance starts, in the words of Cloud Run's system log. */
export type StartReason = "DEPLOYMENT_ROLLOUT" | "AUTOSCALING" | "MANUAL_OR_CUSTOMER_MIN_INSTANCE";

/** What the pool needs from the plane. */
export interface PoolOptions {
  /** Makes (does not start) an instance of `revision` that calls `onExit` once its process ends. */
  createInstance(revision: Revision, reason: StartReason, onExit: (instance: Instance) => void): Instance;
  /** Read at each use, so tests can change timings on a running plane. */
  idleTimeoutMs(): number;
  /** The cold-start wait, or undefined for Cloud Run's rule: max(3.5 × average startup, 10 s). */
  queueTimeoutMs(): number | undefined;
  /** How long a request waits when the revision is at its max instances (Cloud Run: 60 s). */
  maxInstancesQueueTimeoutMs(): number;
  /** How long an instance that just became idle stays before a random reclaim; undefined: never (no chaos). */
  randomReclaimDelayMs?(): number | undefined;
}

/** The least cold-start wait, and how many times the average startup a request waits at least. */
export const COLD_START_WAIT = { minimumMs: 10_000, startupMultiple: 3.5 } as const;
/** How many recent startups the average is taken over. */
const STARTUP_SAMPLES = 20;

/** The instance started for the request could not start (Cloud Run answers 503). */
export class StartFailedError extends Error {
  override name = "StartFailedError";
}

/** The service was removed while the request waited. */
export class PoolClosedError extends Error {
  override name = "PoolClosedError";
}

const HISTORY_LIMIT = 100;
const MIN_RETRY_FIRST_MS = 250;
const MIN_RETRY_MAX_MS = 30_000;

/** The instances of one service across its revisions; see the module comment for the rules. */
export class InstancePool {
  readonly #options: PoolOptions;
  readonly #instances = new Set<Instance>();
  readonly #history: Instance[] = [];
  /** Instances that became ready at least once; only their loss may trigger new starts right away. */
  readonly #servedOnce = new WeakSet<Instance>();
  readonly #queue = new RequestQueue();
  #current: Revision | undefined;
  #assignments = 0;
  #closed = false;
  #minRetryTimer: NodeJS.Timeout | undefined;
  #minRetryAttempts = 0;
  /** Recent startup times (spawn to listening), newest last. */
  readonly #startups: number[] = [];

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** The revision taking traffic, once one has been activated. */
  get current(): Revision | undefined {
    return this.#current;
  }

  /** Instances not yet stopped, oldest first. */
  live(): Instance[] {
    return [...this.#instances];
  }

  /** Recently stopped instances, oldest first (at most the last hundred). */
  stopped(): Instance[] {
    return [...this.#history];
  }

  /** Requests waiting for an instance. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Starts `count` instances of `revision` without routing to them, and resolves once all listen.
   * If any fails, stops them all and rejects with its error; the serving revision is untouched.
   */
  async prepare(revision: Revision, count: number): Promise<void> {
    const launches = Array.from({ length: count }, () => this.#launch(revision, "DEPLOYMENT_ROLLOUT"));
    const results = await Promise.allSettled(launches);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return;
    await Promise.all(
      results.map((r) => (r.status === "fulfilled" ? r.value.stop("the revision failed to become ready", 0) : undefined)),
    );
    throw this.#closed ? new PoolClosedError("the service was removed") : failed.reason;
  }

  /** Routes all traffic to `revision` from now on; instances of other revisions drain, then stop. */
  activate(revision: Revision): void {
    this.#current = revision;
    this.#minRetryAttempts = 0;
    for (const instance of this.#instances) {
      if (instance.revision === revision.name) {
        if (instance.state === "ready" && instance.inFlight === 0) this.#scheduleIdle(instance);
        continue;
      }
      instance.retiring = true;
      if (instance.inFlight === 0) void instance.stop("a newer revision took over");
    }
    this.#ensureMin();
    this.#dispatch();
  }

  /**
   * Takes a slot for one request: at once if an instance has one (preferring the instance named
   * `preferred`), else after waiting in the queue. Rejects with {@link QueueTimeoutError},
   * {@link StartFailedError}, {@link PoolClosedError}, or the abort reason of `signal`.
   */
  acquire(preferred?: string, signal?: AbortSignal): Promise<Lease> {
    if (this.#closed) return Promise.reject(new PoolClosedError("the service was removed"));
    if (!this.#current) return Promise.reject(new StartFailedError("no revision of the service is ready to serve"));
    const free = this.#pick(preferred);
    if (free) return Promise.resolve(this.#lease(free));
    const queued = this.#queue.enqueue(preferred, this.#waitFor(this.#queue.length + 1), signal);
    this.#dispatch();
    return queued;
  }

  /**
   * The cold-start wait in force: the configured one, else max(3.5 × the average of recent startups,
   * 10 s).
   */
  coldStartWaitMs(): number {
    const configured = this.#options.queueTimeoutMs();
    if (configured !== undefined) return configured;
    const average = this.#startups.length === 0 ? 0 : this.#startups.reduce((a, b) => a + b, 0) / this.#startups.length;
    return Math.max(COLD_START_WAIT.minimumMs, Math.round(COLD_START_WAIT.startupMultiple * average));
  }

  /**
   * How long the request at queue `position` (1 = first) may wait: the max-instances wait when no
   * instance is starting for it and none may be added, else the cold-start wait.
   */
  #waitFor(position: number): number {
    const current = this.#current!;
    const atMax = this.#liveOfCurrent().length >= current.config.maxInstances && position > this.#startingCapacity();
    return atMax ? this.#options.maxInstancesQueueTimeoutMs() : this.coldStartWaitMs();
  }

  /** Fails queued requests, stops every instance (SIGTERM, then SIGKILL after the grace) and clears timers. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#minRetryTimer);
    for (const waiter of this.#queue.oldest(this.#queue.length)) waiter.fail(new PoolClosedError("the service was removed"));
    await Promise.all([...this.#instances].map((instance) => instance.stop("the service was removed")));
  }

  #routable(instance: Instance): boolean {
    const current = this.#current;
    return (
      current !== undefined &&
      instance.revision === current.name &&
      instance.state === "ready" &&
      !instance.retiring &&
      instance.inFlight < current.config.concurrency
    );
  }

  #pick(preferred: string | undefined): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of this.#instances) {
      if (!this.#routable(instance)) continue;
      if (instance.id === preferred) return instance;
      const better =
        !best ||
        instance.inFlight < best.inFlight ||
        (instance.inFlight === best.inFlight && instance.lastAssigned < best.lastAssigned);
      if (better) best = instance;
    }
    return best;
  }

  #lease(instance: Instance): Lease {
    instance.inFlight++;
    instance.lastAssigned = ++this.#assignments;
    clearTimeout(instance.idleTimer);
    let released = false;
    return {
      instance,
      release: () => {
        if (released) return;
        released = true;
        instance.inFlight--;
        this.#afterRelease(instance);
      },
    };
  }

  #afterRelease(instance: Instance): void {
    if (instance.state !== "ready") return;
    if (instance.retiring) {
      if (instance.inFlight === 0) void instance.stop("a newer revision took over");
      return;
    }
    this.#dispatch();
    if (instance.inFlight === 0) this.#scheduleIdle(instance);
  }

  /** Hands free slots to queued requests in order, then starts instances for whatever still waits. */
  #dispatch(): void {
    for (let waiter = this.#queue.first(); waiter; waiter = this.#queue.first()) {
      const instance = this.#pick(waiter.preferred);
      if (!instance) break;
      waiter.grant(this.#lease(instance));
    }
    this.#scaleUp();
  }

  #liveOfCurrent(): Instance[] {
    const current = this.#current;
    if (!current) return [];
    return [...this.#instances].filter(
      (i) => i.revision === current.name && !i.retiring && (i.state === "starting" || i.state === "ready"),
    );
  }

  #startingCapacity(): number {
    const starting = this.#liveOfCurrent().filter((i) => i.state === "starting").length;
    return starting * (this.#current?.config.concurrency ?? 1);
  }

  #scaleUp(): void {
    const current = this.#current;
    if (!current || this.#closed) return;
    let live = this.#liveOfCurrent().length;
    let capacity = this.#startingCapacity();
    while (this.#queue.length > capacity && live < current.config.maxInstances) {
      this.#launch(current, "AUTOSCALING").catch((error: Error) => {
        // A start cut short by a roll leaves the queue to the new revision.
        if (this.#current === current) this.#failUnservedWaiters(error);
        else this.#dispatch();
      });
      live++;
      capacity += current.config.concurrency;
    }
  }

  /** After a cold start failed: the requests no other starting instance will take get the error. */
  #failUnservedWaiters(cause: Error): void {
    for (const waiter of this.#queue.oldest(this.#queue.length - this.#startingCapacity())) {
      waiter.fail(new StartFailedError(`the instance started for this request failed: ${cause.message}`));
    }
  }

  #ensureMin(): void {
    const current = this.#current;
    if (!current || this.#closed) return;
    for (let live = this.#liveOfCurrent().length; live < current.config.minInstances; live++) {
      this.#launch(current, "MANUAL_OR_CUSTOMER_MIN_INSTANCE").then(
        () => (this.#minRetryAttempts = 0),
        () => this.#retryMinLater(),
      );
    }
  }

  #retryMinLater(): void {
    if (this.#closed || this.#minRetryTimer) return;
    const delay = Math.min(MIN_RETRY_MAX_MS, MIN_RETRY_FIRST_MS * 2 ** this.#minRetryAttempts++);
    this.#minRetryTimer = setTimeout(() => {
      this.#minRetryTimer = undefined;
      this.#ensureMin();
    }, delay);
    this.#minRetryTimer.unref();
  }

  /** Creates and starts an instance; resolves with it once it listens, rejects if it cannot start. */
  async #launch(revision: Revision, reason: StartReason): Promise<Instance> {
    if (this.#closed) throw new PoolClosedError("the service was removed");
    const instance = this.#options.createInstance(revision, reason, (exited) => this.#onExit(exited));
    this.#instances.add(instance);
    try {
      await instance.start();
    } catch (error) {
      await instance.stop("it failed to start", 0);
      throw error;
    }
    this.#servedOnce.add(instance);
    if (instance.startupMs !== undefined) {
      this.#startups.push(instance.startupMs);
      if (this.#startups.length > STARTUP_SAMPLES) this.#startups.shift();
    }
    if (this.#closed) {
      await instance.stop("the service was removed");
      throw new PoolClosedError("the service was removed");
    }
    if (instance.revision === this.#current?.name) {
      this.#dispatch();
      if (instance.inFlight === 0) this.#scheduleIdle(instance);
    }
    return instance;
  }

  #onExit(instance: Instance): void {
    clearTimeout(instance.idleTimer);
    if (!this.#instances.delete(instance)) return;
    this.#history.push(instance);
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift();
    // A lost instance is replaced as Cloud Run would; one that never started is handled by its launcher.
    if (this.#closed || !this.#servedOnce.has(instance)) return;
    this.#ensureMin();
    this.#dispatch();
  }

  #scheduleIdle(instance: Instance): void {
    clearTimeout(instance.idleTimer);
    const idleTimeoutMs = this.#options.idleTimeoutMs();
    const randomMs = this.#options.randomReclaimDelayMs?.();
    const random = randomMs !== undefined && randomMs < idleTimeoutMs;
    instance.idleTimer = setTimeout(() => this.#reclaimIfIdle(instance, random), random ? randomMs : idleTimeoutMs);
    instance.idleTimer.unref();
  }

  /** Stops an instance still idle: after the idle timeout if above the minimum, or at a random moment (chaos). */
  #reclaimIfIdle(instance: Instance, random: boolean): void {
    if (instance.state !== "ready" || instance.inFlight > 0) return;
    if (random) {
      // Cloud Run may shut down any idle instance at any time, min instances included; they are replaced.
      void instance.stop("reclaimed while idle (chaos)");
      return;
    }
    const current = this.#current;
    const ofCurrent = current !== undefined && instance.revision === current.name && !instance.retiring;
    if (ofCurrent && this.#liveOfCurrent().length <= current.config.minInstances) return;
    void instance.stop("idle");
  }
}
