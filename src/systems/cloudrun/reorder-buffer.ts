/**
 * @module
 * Puts log lines back in timestamp order. Cloud Logging makes an entry readable some time after it
 * was written, and not in order, so a poller reads some entries after later-stamped ones. Holding each
 * line until a read has been made `windowMs` after its timestamp, and handing lines on in timestamp
 * order (arrival order for equal stamps), restores the order of everything that became readable within
 * the window: Cloud Logging's own tail API buffers 2 s for the same reason. The clock is the poller's
 * (the start of its latest complete read), not the wall's: while reads fail (a read quota, an outage)
 * nothing is released that a later read could still precede. A window of 0 hands every line on as it
 * is read.
 */

/** Holds items until the clock has passed their timestamps by `windowMs`, then releases them in order. */
export class ReorderBuffer<T> {
  readonly #windowMs: number;
  readonly #clock: () => number;
  readonly #release: (items: T[]) => void;
  /** Held items, sorted by time, then by arrival. */
  #held: { timeMs: number; seq: number; item: T }[] = [];
  #seq = 0;

  /** `clock` says how far reads have got (epoch ms); `release` receives each batch of items in order. */
  constructor(windowMs: number, clock: () => number, release: (items: T[]) => void) {
    this.#windowMs = windowMs;
    this.#clock = clock;
    this.#release = release;
  }

  /** Items held now. */
  get size(): number {
    return this.#held.length;
  }

  /** Adds items with their timestamps (epoch ms, fractions allowed), and releases what is due. */
  add(items: { timeMs: number; item: T }[]): void {
    for (const { timeMs, item } of items) this.#insert({ timeMs, seq: this.#seq++, item });
    this.release();
  }

  /** Releases, in order, the items the clock has passed by the window (all of them for a window of 0). */
  release(): void {
    const cutoff = this.#windowMs === 0 ? Number.POSITIVE_INFINITY : this.#clock() - this.#windowMs;
    let due = 0;
    while (due < this.#held.length && this.#held[due].timeMs <= cutoff) due++;
    if (due > 0) this.#release(this.#held.splice(0, due).map((h) => h.item));
  }

  /** Releases everything held, in order. */
  flush(): void {
    const all = this.#held;
    this.#held = [];
    if (all.length > 0) this.#release(all.map((h) => h.item));
  }

  /** Drops everything held. */
  clear(): void {
    this.#held = [];
  }

  #insert(entry: { timeMs: number; seq: number; item: T }): void {
    // Lines mostly arrive in order: search from the end.
    let i = this.#held.length;
    while (i > 0 && this.#held[i - 1].timeMs > entry.timeMs) i--;
    this.#held.splice(i, 0, entry);
  }
}
