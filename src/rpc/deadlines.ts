/**
 * @module
 * One timer for every call deadline in the process, instead of a timer per call: a binary min-heap of
 * pending deadlines and a single timeout armed for the earliest. Entries are removed as their calls
 * settle, and the timer is cleared when none are left, so settled calls never keep a process alive.
 */

/** Something with a deadline; the queue keeps its position in `deadlineSlot`. */
export interface Expiring {
  /** When it expires, in `performance.now()` milliseconds. */
  deadlineAt: number;
  /** Position in the queue, -1 when not queued. Owned by the queue. */
  deadlineSlot: number;
  /** Called once when the deadline passes while still queued. */
  expire(): void;
}

class DeadlineQueue {
  readonly #heap: Expiring[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /** Queues `entry` to expire at `entry.deadlineAt`. */
  add(entry: Expiring): void {
    const heap = this.#heap;
    entry.deadlineSlot = heap.length;
    heap.push(entry);
    this.#up(entry.deadlineSlot);
    if (entry.deadlineAt < this.#timerAt) this.#arm();
  }

  /** Removes `entry` if it is queued. */
  remove(entry: Expiring): void {
    const slot = entry.deadlineSlot;
    if (slot < 0) return;
    const heap = this.#heap;
    const last = heap.pop()!;
    entry.deadlineSlot = -1;
    if (last !== entry) {
      heap[slot] = last;
      last.deadlineSlot = slot;
      this.#down(slot);
      this.#up(last.deadlineSlot);
    }
    // An early wake-up for a removed entry is harmless; an armed timer with nothing queued is not.
    if (heap.length === 0) this.#disarm();
  }

  /** Entries queued; for tests. */
  get size(): number {
    return this.#heap.length;
  }

  #arm(): void {
    this.#disarm();
    const at = this.#heap[0].deadlineAt;
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].deadlineAt <= now) {
      const entry = heap[0];
      this.remove(entry);
      entry.expire();
    }
    if (heap.length > 0 && this.#timer === undefined) this.#arm();
  }

  #up(slot: number): void {
    const heap = this.#heap;
    const entry = heap[slot];
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot];
      if (parent.deadlineAt <= entry.deadlineAt) break;
      heap[slot] = parent;
      parent.deadlineSlot = slot;
      slot = parentSlot;
    }
    heap[slot] = entry;
    entry.deadlineSlot = slot;
  }

  #down(slot: number): void {
    const heap = this.#heap;
    const entry = heap[slot];
    const n = heap.length;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1].deadlineAt < heap[child].deadlineAt) child++;
      if (heap[child].deadlineAt >= entry.deadlineAt) break;
      heap[slot] = heap[child];
      heap[slot].deadlineSlot = slot;
      slot = child;
    }
    heap[slot] = entry;
    entry.deadlineSlot = slot;
  }
}

/** The process-wide deadline queue of the RPC layer. */
export const deadlines = new DeadlineQueue();
