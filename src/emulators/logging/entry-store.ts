/**
 * @module
 * The emulator's log storage: entries in one array sorted by (timestamp, insertId, arrival), which is
 * the order `entries:list` returns them in, with a cap on how many are kept.
 *
 * - Duplicates are dropped as Google drops them: a second entry with the same parent, timestamp and
 *   insertId as a stored one is ignored.
 * - Memory is bounded by `maxEntries`: past it, the entries with the oldest timestamps are dropped
 *   first, the way retention ages entries out.
 * - Each entry carries the time it becomes visible to reads (receive time plus the ingestion delay in
 *   force when it arrived).
 */
import type { LogEntry } from "../contracts.ts";

/** A stored entry and what the store orders and filters it by. */
export interface StoredEntry {
  /** The entry as `entries:list` returns it. */
  readonly entry: LogEntry;
  /** The part of `logName` before `/logs/`, e.g. `projects/P`. */
  readonly parent: string;
  /** The timestamp key (see `timestamp.ts`): its string order is time order. */
  readonly timeKey: string;
  readonly insertId: string;
  /** Arrival order, unique: the last tie-breaker. */
  readonly seq: number;
  /** Clock time (ms) from which reads see the entry. */
  readonly visibleAtMs: number;
}

/** A position in the store's order: reads resume strictly after (or before) it. */
export interface StoreCursor {
  timeKey: string;
  insertId: string;
  seq: number;
}

/** What {@link EntryStore.query} looks for. */
export interface StoreQuery {
  parents: ReadonlySet<string>;
  matches: (entry: LogEntry) => boolean;
  descending: boolean;
  /** Resume after this position (in the direction of the query). */
  after?: StoreCursor;
  limit: number;
  nowMs: number;
}

/** Entries in list order, bounded in number. */
export class EntryStore {
  readonly #sorted: StoredEntry[] = [];
  readonly #keys = new Set<string>();
  #nextSeq = 0;

  constructor(
    /** Most entries kept; the oldest by timestamp go first. */
    public maxEntries: number,
  ) {}

  /** How many entries are stored, visible or not. */
  get size(): number {
    return this.#sorted.length;
  }

  /** Stores one entry unless it duplicates a stored one; returns whether it was stored. */
  add(entry: Omit<StoredEntry, "seq">): boolean {
    const key = dedupKey(entry);
    if (this.#keys.has(key)) return false;
    const stored: StoredEntry = { ...entry, seq: this.#nextSeq++ };
    this.#sorted.splice(this.#indexAfter(stored), 0, stored);
    this.#keys.add(key);
    this.#evict();
    return true;
  }

  /** Every stored entry in list order, visible or not. */
  all(): readonly StoredEntry[] {
    return this.#sorted;
  }

  /** Drops everything. */
  clear(): void {
    this.#sorted.length = 0;
    this.#keys.clear();
  }

  /**
   * Up to `limit` visible, matching entries of the given parents, in order, after the cursor; `more`
   * says whether at least one further entry matches.
   */
  query(query: StoreQuery): { entries: StoredEntry[]; more: boolean } {
    const found: StoredEntry[] = [];
    const step = query.descending ? -1 : 1;
    let index = this.#startIndex(query);
    for (; index >= 0 && index < this.#sorted.length; index += step) {
      const stored = this.#sorted[index];
      if (stored.visibleAtMs > query.nowMs || !query.parents.has(stored.parent)) continue;
      if (!query.matches(stored.entry)) continue;
      if (found.length === query.limit) return { entries: found, more: true };
      found.push(stored);
    }
    return { entries: found, more: false };
  }

  #startIndex(query: StoreQuery): number {
    if (!query.after) return query.descending ? this.#sorted.length - 1 : 0;
    // The first index whose entry sorts after the cursor.
    const firstAfter = this.#indexAfter(query.after);
    return query.descending ? firstAfter - 1 - (this.#holds(firstAfter - 1, query.after) ? 1 : 0) : firstAfter;
  }

  #holds(index: number, cursor: StoreCursor): boolean {
    const stored = this.#sorted[index];
    return stored !== undefined && compareOrder(stored, cursor) === 0;
  }

  /** The index of the first entry that sorts strictly after `position`. */
  #indexAfter(position: StoreCursor): number {
    let low = 0;
    let high = this.#sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareOrder(this.#sorted[mid], position) <= 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #evict(): void {
    const excess = this.#sorted.length - this.maxEntries;
    if (excess <= 0) return;
    for (const dropped of this.#sorted.splice(0, excess)) this.#keys.delete(dedupKey(dropped));
  }
}

/** List order: timestamp, then insertId, then arrival. */
export function compareOrder(a: StoreCursor, b: StoreCursor): number {
  if (a.timeKey !== b.timeKey) return a.timeKey < b.timeKey ? -1 : 1;
  if (a.insertId !== b.insertId) return a.insertId < b.insertId ? -1 : 1;
  return a.seq - b.seq;
}

function dedupKey(entry: { parent: string; timeKey: string; insertId: string }): string {
  return `${entry.parent}\u0000${entry.timeKey}\u0000${entry.insertId}`;
}
