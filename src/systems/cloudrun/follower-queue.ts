/**
 * @module
 * The lines waiting for one follower of a tail, as the follower's async iterator.
 *
 * The queue is bounded: it holds at most `capacity` lines. While it is full, new lines are dropped
 * (the lines already queued are kept, so what the follower reads stays an unbroken run up to the gap)
 * and counted; where the gap is, the follower reads one synthetic line saying how many lines were
 * dropped. A follower that reads slowly thus costs bounded memory and learns what it missed.
 *
 * The iterator ends when its signal aborts or `return()` is called (at once, dropping what is
 * queued), or when the producer ends it (after the queued lines; with an error, the error is thrown
 * after them).
 */
import type { LogLine } from "../../core.ts";

/** Options for {@link FollowerQueue}. */
export interface FollowerQueueOptions {
  /** Most lines held; at least 1. */
  capacity: number;
  /** Ends the iterator at once when it aborts. */
  signal?: AbortSignal;
  /**
   * Called once when the follower stops reading (abort, `return()`, or its end was read); not at all
   * if `signal` had aborted before the queue was made.
   */
  onDetach?: () => void;
  /** The text of the synthetic line that stands for `count` dropped lines. */
  describeDrop?: (count: number) => string;
}

/** A bounded queue of lines read through its async iterator. */
export class FollowerQueue implements AsyncIterableIterator<LogLine> {
  readonly #capacity: number;
  readonly #describeDrop: (count: number) => string;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => this.#detach();
  #onDetach?: () => void;
  /** Queued lines; synthetic drop lines are not `counted` against the capacity. */
  readonly #items: { line: LogLine; counted: boolean }[] = [];
  #lineCount = 0;
  #dropped = 0;
  #firstDroppedTime?: Date;
  #ending = false;
  #endError?: unknown;
  #done = false;
  #waiter?: { resolve: (result: IteratorResult<LogLine>) => void; reject: (err: unknown) => void };

  constructor(options: FollowerQueueOptions) {
    if (!(options.capacity >= 1)) throw new RangeError(`a follower queue needs room for at least 1 line, got ${options.capacity}`);
    this.#capacity = options.capacity;
    this.#describeDrop = options.describeDrop ?? ((count) => `[${count} lines dropped: this follower fell behind]`);
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      // Over before it began: there is nothing to detach from.
      this.#done = true;
      return;
    }
    this.#onDetach = options.onDetach;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Whether the follower still reads (or may read) lines. */
  get open(): boolean {
    return !this.#done && !this.#ending;
  }

  /** Offers a line; returns false if it was dropped because the queue is full (or ended). */
  push(line: LogLine): boolean {
    if (!this.open) return false;
    if (this.#waiter && this.#items.length === 0 && this.#dropped === 0) {
      this.#settle({ value: line, done: false });
      return true;
    }
    if (this.#lineCount >= this.#capacity) {
      if (this.#dropped === 0) this.#firstDroppedTime = line.time;
      this.#dropped++;
      return false;
    }
    this.#queueDropLine();
    this.#items.push({ line, counted: true });
    this.#lineCount++;
    return true;
  }

  /** Ends the follower after the queued lines; with `error`, the error is thrown after them. Idempotent. */
  end(error?: unknown): void {
    if (!this.open) return;
    this.#ending = true;
    this.#endError = error;
    if (this.#waiter) this.#deliverNext();
  }

  next(): Promise<IteratorResult<LogLine>> {
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) return Promise.reject(new Error("FollowerQueue: next() called while a previous next() is pending"));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#deliverNext();
    });
  }

  return(): Promise<IteratorResult<LogLine>> {
    this.#detach();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LogLine> {
    return this;
  }

  /** Hands the waiting reader what is due, if anything is. */
  #deliverNext(): void {
    if (this.#items.length === 0) this.#queueDropLine();
    const item = this.#items.shift();
    if (item) {
      if (item.counted) this.#lineCount--;
      this.#settle({ value: item.line, done: false });
      return;
    }
    if (!this.#ending) return;
    // Taken before detaching, so the reader gets the end's error rather than a plain `done`.
    const waiter = this.#waiter;
    this.#waiter = undefined;
    const error = this.#endError;
    this.#detach();
    if (error === undefined) waiter?.resolve({ value: undefined, done: true });
    else waiter?.reject(error);
  }

  /** Queues the synthetic line for lines dropped since the last queued one, if any were. */
  #queueDropLine(): void {
    if (this.#dropped === 0) return;
    const line: LogLine = { text: this.#describeDrop(this.#dropped) };
    if (this.#firstDroppedTime) line.time = this.#firstDroppedTime;
    this.#items.push({ line, counted: false });
    this.#dropped = 0;
    this.#firstDroppedTime = undefined;
  }

  #settle(result: IteratorResult<LogLine>): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve(result);
  }

  /** Stops the follower now: queued lines are dropped, a waiting reader gets `done`. */
  #detach(): void {
    if (this.#done) return;
    this.#done = true;
    this.#items.length = 0;
    this.#lineCount = 0;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#settle({ value: undefined, done: true });
    const onDetach = this.#onDetach;
    this.#onDetach = undefined;
    onDetach?.();
  }
}
