/**
 * @module
 * The queue of requests waiting for a slot on an instance, in arrival order. Each waiter leaves it
 * exactly once: granted a {@link Lease}, timed out ({@link QueueTimeoutError}), aborted by its
 * client, or failed by the pool.
 */
import type { Instance } from "./instance.ts";

/** A slot on an instance, held while a request (or WebSocket) is served. */
export interface Lease {
  readonly instance: Instance;
  /** Frees the slot. Idempotent. */
  release(): void;
}

/** No instance could take the request within the queue timeout (Cloud Run answers 429). */
export class QueueTimeoutError extends Error {
  override name = "QueueTimeoutError";
}

/** A queued request. */
export interface Waiter {
  /** The instance its affinity cookie names, if any. */
  readonly preferred: string | undefined;
  /** Hands it a slot and takes it off the queue. */
  grant(lease: Lease): void;
  /** Fails it and takes it off the queue. */
  fail(error: Error): void;
}

/** Requests waiting for a slot, oldest first. */
export class RequestQueue {
  #waiters: Waiter[] = [];

  get length(): number {
    return this.#waiters.length;
  }

  /** The oldest waiter, if any. */
  first(): Waiter | undefined {
    return this.#waiters[0];
  }

  /** The `n` oldest waiters (a copy: failing them while iterating is safe). */
  oldest(n: number): Waiter[] {
    return this.#waiters.slice(0, Math.max(0, n));
  }

  /**
   * Queues a request; the promise settles when the pool grants or fails it, after `timeoutMs` with
   * {@link QueueTimeoutError}, or when `signal` aborts, with its reason.
   */
  enqueue(preferred: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      const waiter: Waiter = {
        preferred,
        grant: (lease) => {
          leave();
          resolve(lease);
        },
        fail: (error) => {
          leave();
          reject(error);
        },
      };
      const onAbort = () => waiter.fail(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      const timer = setTimeout(
        () => waiter.fail(new QueueTimeoutError(`no instance was available within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }
}
