/**
 * @module
 * The instances of one revision and how requests are placed on them: at most `concurrency` requests
 * per instance, new instances started on demand up to `maxInstances` (a cold start), `minInstances`
 * kept warm, a queue for requests no instance can take yet (429 after the queue timeout), and idle
 * instances above the minimum reclaimed after the idle timeout.
 */
import type { RevisionConfig } from "./config.ts";
import type { Instance } from "./instance.ts";

/** A request's hold on an instance; release it exactly once when the request is done. */
export interface Lease {
  instance: Instance;
  release(): void;
}

/** Raised by {@link InstancePool.acquire} when no instance could take the request in time. */
export class NoCapacityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoCapacityError";
  }
}

/** Settings of a pool. */
export interface PoolOptions {
  config: RevisionConfig;
  /** Makes (does not start) a new instance of this revision. */
  newInstance: () => Instance;
  idleTimeoutMs: number;
  queueTimeoutMs: number;
  /** Reports instance failures (a cold start that did not come up). */
  onError: (message: string) => void;
}

interface Waiter {
  preferred: string | undefined;
  resolve: (lease: Lease) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The instances of one revision. */
export class InstancePool {
  readonly instances: Instance[] = [];
  readonly #options: PoolOptions;
  #queue: Waiter[] = [];
  readonly #idleTimers = new Map<Instance, NodeJS.Timeout>();
  #draining = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  get config(): RevisionConfig {
    return this.#options.config;
  }

  /** Starts `n` instances and resolves when all are ready; rejects with the first failure. */
  async warm(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.#startInstance(true)));
  }

  /**
   * Places a request on an instance: the `preferred` one (session affinity) if it has room, otherwise
   * any with room, otherwise after a cold start or when one frees up; rejects with NoCapacityError
   * after the queue timeout.
   */
  acquire(preferred?: string): Promise<Lease> {
    if (this.#draining) return Promise.reject(new NoCapacityError("the revision is being replaced"));
    const instance = this.#pick(preferred);
    if (instance && this.#queue.length === 0) return Promise.resolve(this.#lease(instance));
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        preferred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#queue = this.#queue.filter((w) => w !== waiter);
          reject(new NoCapacityError(`no instance could take the request within ${this.#options.queueTimeoutMs} ms`));
        }, this.#options.queueTimeoutMs),
      };
      this.#queue.push(waiter);
      this.#dispatch();
      this.#scale();
    });
  }

  /** Called when an instance process has exited: forget it, and keep the minimum warm. */
  instanceExited(instance: Instance): void {
    const i = this.instances.indexOf(instance);
    if (i < 0) return;
    this.instances.splice(i, 1);
    clearTimeout(this.#idleTimers.get(instance));
    this.#idleTimers.delete(instance);
    if (!this.#draining && this.#live() < this.#options.config.minInstances) void this.#startInstance(false);
    this.#scale();
  }

  /** Stops taking requests; stops idle instances now and busy ones when their requests finish. */
  drain(): void {
    this.#draining = true;
    for (const w of this.#queue.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new NoCapacityError("the revision was replaced"));
    }
    for (const instance of this.instances) if (instance.inFlight === 0) void instance.stop("revision replaced");
  }

  /** Stops every instance and fails queued requests; resolves once all processes are gone. */
  async close(): Promise<void> {
    this.drain();
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
    await Promise.all([...this.instances].map((i) => i.stop("service removed")));
  }

  #live(): number {
    return this.instances.filter((i) => i.state === "starting" || i.state === "ready").length;
  }

  #pick(preferred: string | undefined): Instance | undefined {
    const { concurrency } = this.#options.config;
    const ready = this.instances.filter((i) => i.state === "ready" && i.inFlight < concurrency);
    if (preferred) {
      const match = ready.find((i) => i.id === preferred);
      if (match) return match;
    }
    // Spread load: the least busy instance with room.
    let best: Instance | undefined;
    for (const i of ready) if (!best || i.inFlight < best.inFlight) best = i;
    return best;
  }

  #lease(instance: Instance): Lease {
    instance.inFlight++;
    clearTimeout(this.#idleTimers.get(instance));
    this.#idleTimers.delete(instance);
    let released = false;
    return {
      instance,
      release: () => {
        if (released) return;
        released = true;
        instance.inFlight--;
        if (instance.inFlight === 0) this.#becameIdle(instance);
        this.#dispatch();
      },
    };
  }

  #becameIdle(instance: Instance): void {
    instance.idleSince = Date.now();
    if (this.#draining) {
      void instance.stop("revision replaced");
      return;
    }
    const timer = setTimeout(() => {
      this.#idleTimers.delete(instance);
      if (instance.inFlight === 0 && instance.state === "ready" && this.#live() > this.#options.config.minInstances) {
        void instance.stop("idle");
      }
    }, this.#options.idleTimeoutMs);
    timer.unref();
    this.#idleTimers.set(instance, timer);
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const waiter = this.#queue[0];
      const instance = this.#pick(waiter.preferred);
      if (!instance) return;
      this.#queue.shift();
      clearTimeout(waiter.timer);
      waiter.resolve(this.#lease(instance));
    }
  }

  /** Starts instances for queued requests that the starting ones cannot absorb, up to the maximum. */
  #scale(): void {
    if (this.#draining) return;
    const { concurrency, maxInstances } = this.#options.config;
    const starting = this.instances.filter((i) => i.state === "starting").length;
    let uncovered = this.#queue.length - starting * concurrency;
    while (uncovered > 0 && this.#live() < maxInstances) {
      void this.#startInstance(false);
      uncovered -= concurrency;
    }
  }

  async #startInstance(rethrow: boolean): Promise<void> {
    const instance = this.#options.newInstance();
    this.instances.push(instance);
    try {
      await instance.start();
      this.#becameIdle(instance);
      this.#dispatch();
    } catch (err) {
      this.instanceExited(instance);
      this.#options.onError(`instance ${instance.id} failed to start: ${(err as Error).message}`);
      if (rethrow) throw err;
    }
  }
}
