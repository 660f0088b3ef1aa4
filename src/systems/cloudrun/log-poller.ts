/**
 * @module
 * The poll loop behind a service's log tail: one `entries:list` query for every instance of the
 * service, repeated while someone follows.
 *
 * - **Cursor and overlap.** The cursor is the newest timestamp read so far. Each poll asks for entries
 *   from `cursor − overlap` on, in ascending timestamp order, and reads every page. The overlap exists
 *   because Cloud Logging ingests with a delay: an entry can become readable after entries with later
 *   timestamps were already read, and the overlap is how late it may be and still be read.
 * - **Dedup.** Overlapping polls read entries again, so every entry read is remembered by its
 *   timestamp and `insertId` (the pair Cloud Logging itself treats as one entry) and handed on once.
 *   An entry older than `cursor − overlap` can never be read again, so it is forgotten then: the set
 *   holds one overlap window of output.
 * - **Bounds on the query.** It never reaches before the tail's start time, nor more than `historyMs`
 *   behind the clock (after a long pause, the tail resumes with recent output rather than paging
 *   through all of it). The cursor never moves past the local clock, so one entry stamped in the
 *   future (a JSON line may name its own time) cannot make the tail skip what comes after it.
 * - **Failures.** A permanent failure ends the loop and is reported once. Anything else (the read
 *   quota among it) is reported and retried after an exponential backoff, for as long as the loop
 *   runs: transient trouble never ends it.
 * - **Pacing.** Requests also go through a {@link RequestBudget}, so a burst of pages cannot use the
 *   project's whole read quota.
 */
import { type BigmachineError, errorOf } from "../../core.ts";
import type { ListEntries, ListEntriesPage } from "./list-entries.ts";
import { classifyListFailure, type ListFailure } from "./list-errors.ts";
import { entryTimeMs, type ServiceLogQuery, serviceLogFilter, type TailEntry } from "./log-query.ts";
import type { RequestBudget } from "./request-budget.ts";

/** An entry read for the first time, with its timestamp in epoch milliseconds. */
export interface FreshEntry {
  entry: TailEntry;
  timeMs: number;
}

/** Options for {@link LogPoller}; every timing in milliseconds. */
export interface LogPollerOptions {
  list: ListEntries;
  query: ServiceLogQuery;
  /** No entry before this time (epoch ms) is asked for. */
  startMs: number;
  pollIntervalMs: number;
  overlapMs: number;
  /** How far behind the clock a query may reach. */
  historyMs: number;
  pageSize: number;
  budget: RequestBudget;
  retryInitialMs: number;
  retryMaxMs: number;
  now: () => number;
  /** Receives each poll's new entries, page by page, in the order read. */
  onEntries: (entries: FreshEntry[]) => void;
  /** After every poll whose pages were all read: when it started (epoch ms, by `now`). */
  onPolled?: (startedMs: number) => void;
  /** Told about each transient failure and how long until the next attempt. */
  onRetry: (failure: ListFailure, retryInMs: number) => void;
  /** Told once about a permanent failure; the loop has stopped. */
  onFatal: (error: BigmachineError) => void;
}

/** Counters of a poller's work. */
export interface PollerCounters {
  /** Polls begun (each reads one or more pages). */
  polls: number;
  /** `entries:list` requests made. */
  requests: number;
  /** Entries handed on. */
  entries: number;
  /** Entries read again in an overlapping window, and skipped. */
  duplicates: number;
  /** Entries without a readable timestamp or an insertId, skipped. */
  unreadable: number;
  /** Failed requests that were retried. */
  retries: number;
}

/** Polls one service's logs while started. */
export class LogPoller {
  readonly #options: LogPollerOptions;
  readonly #counters: PollerCounters = { polls: 0, requests: 0, entries: 0, duplicates: 0, unreadable: 0, retries: 0 };
  /** Entries read in the current overlap window: dedup key to timestamp. */
  readonly #seen = new Map<string, number>();
  #cursorMs: number;
  #run?: AbortController;

  constructor(options: LogPollerOptions) {
    this.#options = options;
    this.#cursorMs = options.startMs;
  }

  /** Whether the loop runs. */
  get running(): boolean {
    return this.#run !== undefined;
  }

  /** A copy of the counters. */
  get counters(): PollerCounters {
    return { ...this.#counters };
  }

  /** How many entries are remembered for dedup. */
  get remembered(): number {
    return this.#seen.size;
  }

  /** Starts the loop (the first poll at once) unless it runs. */
  start(): void {
    if (this.#run) return;
    const run = new AbortController();
    this.#run = run;
    void this.#loop(run.signal);
  }

  /**
   * Stops the loop: its timer is cleared and an answer still in flight is ignored. Idempotent. The
   * cursor and dedup memory are kept, so a later start resumes where this one stopped.
   */
  stop(): void {
    this.#run?.abort();
    this.#run = undefined;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let delayMs = this.#options.pollIntervalMs;
      try {
        await this.#poll(signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        const failure = err instanceof ListCallError
          ? classifyListFailure(err.cause, `log tail of Cloud Run service ${this.#options.query.serviceName}`)
          : undefined;
        if (!failure || failure.permanent) {
          this.#end(signal);
          this.#options.onFatal(failure?.error ?? errorOf("other", `log tail failed: ${(err as Error)?.message ?? err}`, { severity: "fatal", cause: err }));
          return;
        }
        failures++;
        this.#counters.retries++;
        delayMs = this.#retryDelayMs(failures);
        this.#options.onRetry(failure, delayMs);
      }
      if (!(await pause(delayMs, signal))) return;
    }
  }

  /** One poll: every page of one query. Rejects with {@link ListCallError} when a request fails. */
  async #poll(signal: AbortSignal): Promise<void> {
    const { query, pageSize, overlapMs, historyMs, startMs, now, budget } = this.#options;
    const startedMs = now();
    const fromMs = Math.max(startMs, this.#cursorMs - overlapMs, now() - historyMs);
    const filter = serviceLogFilter(query, fromMs);
    this.#counters.polls++;
    let pageToken: string | undefined;
    do {
      const waitMs = budget.waitMs();
      if (waitMs > 0 && !(await pause(waitMs, signal))) return;
      budget.spend();
      this.#counters.requests++;
      let page: ListEntriesPage;
      try {
        page = await this.#options.list({ resourceNames: [`projects/${query.projectId}`], filter, orderBy: "timestamp asc", pageSize, pageToken, signal });
      } catch (err) {
        throw new ListCallError(err);
      }
      if (signal.aborted) return;
      this.#accept(page.entries ?? []);
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    this.#options.onPolled?.(startedMs);
  }

  #accept(entries: TailEntry[]): void {
    const fresh: FreshEntry[] = [];
    const nowMs = this.#options.now();
    for (const entry of entries) {
      const timeMs = entryTimeMs(entry);
      if (timeMs === undefined || !entry.insertId) {
        this.#counters.unreadable++;
        continue;
      }
      const key = `${timeMs}\u0000${entry.insertId}`;
      if (this.#seen.has(key)) {
        this.#counters.duplicates++;
        continue;
      }
      this.#seen.set(key, timeMs);
      fresh.push({ entry, timeMs });
      this.#cursorMs = Math.max(this.#cursorMs, Math.min(timeMs, nowMs));
    }
    this.#forgetBefore(this.#cursorMs - this.#options.overlapMs);
    this.#counters.entries += fresh.length;
    if (fresh.length > 0) this.#options.onEntries(fresh);
  }

  /** Forgets entries no query can return again. */
  #forgetBefore(cutoffMs: number): void {
    for (const [key, timeMs] of this.#seen) {
      if (timeMs < cutoffMs) this.#seen.delete(key);
    }
  }

  #retryDelayMs(failures: number): number {
    const { retryInitialMs, retryMaxMs } = this.#options;
    const base = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(failures - 1, 30));
    // ±20% jitter, so tails that failed together do not retry together.
    return Math.max(1, Math.round(base * (0.8 + 0.4 * Math.random())));
  }

  #end(signal: AbortSignal): void {
    if (this.#run?.signal === signal) this.#run = undefined;
  }
}

/** A rejection of the list function, told apart from a fault in the tail's own code. */
class ListCallError extends Error {
  constructor(cause: unknown) {
    super("entries:list failed", { cause });
  }
}

/** Waits `ms`; resolves false at once if `signal` aborts first (the timer is cleared). */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
