/**
 * @module
 * The log tail of one Cloud Run service: the output of every instance (every machine) of the service,
 * read through Cloud Logging with one poller, and handed out per instance.
 *
 * Cloud Logging allows 60 `entries:list` requests a minute per project, so the tail never queries per
 * machine: one query per poll covers the service, and entries are sorted out by their `instanceId`
 * label (see `log-poller.ts` for the cursor, overlap, dedup and retries).
 *
 * What is kept, and for how long:
 * - **Before anyone follows an instance**, its lines are kept (while the poller runs for other
 *   followers): the last `recentLines` of each instance, none older than `historyMs`. A follower
 *   first reads what is kept of its instance, then new lines, as `tail` on the local system replays its
 *   kept lines. Older lines are gone for good; nothing says so, as with any bounded history.
 * - **A slow follower** has a queue of `followerBufferLines`. While it is full, new lines for that
 *   follower are dropped; at the gap it reads one synthetic line (no `stream`) saying how many, and
 *   the tail's `stats().droppedLines` counts them. Other followers are not held back.
 * - **The poller runs only while someone follows**: the first follower starts it, the last one to stop
 *   stops it (no timer is left), and it resumes from its cursor when someone follows again.
 *
 * Lines are handed on in timestamp order: each is held until a poll has started `reorderMs` (2 s) after
 * it was stamped, so an entry Cloud Logging made readable after later-stamped ones takes its place among
 * them (`reorder-buffer.ts`); a line therefore shows up between `reorderMs` and `reorderMs` plus a poll
 * interval after it was written.
 * An entry later than that is handed on when it is read, after those later lines; the overlap window
 * bounds how late it may be read at all. Entries later than that, or stamped more than the overlap
 * before the newest one read, are missed.
 */
import { type BigmachineError, errorOf, type LogLine } from "../../core.ts";
import { FollowerQueue } from "./follower-queue.ts";
import type { ListEntries } from "./list-entries.ts";
import { LogPoller, type FreshEntry, type PollerCounters } from "./log-poller.ts";
import { entryToLine, instanceIdOf } from "./log-query.ts";
import { ReorderBuffer } from "./reorder-buffer.ts";
import { RequestBudget } from "./request-budget.ts";

/** Options for {@link ServiceLogTail}; every timing in milliseconds. */
export interface ServiceLogTailOptions {
  /** Lists log entries; {@link listEntriesWith} makes one from the official client. */
  list: ListEntries;
  projectId: string;
  serviceName: string;
  /** The service's region; when set, a same-named service in another region is left out. */
  location?: string;
  /** Output written before this is never read (e.g. the session's start). */
  since: Date;
  /**
   * Time between polls; default 5 s. One poll of one page every 5 s is 12 of the project's 60 reads a
   * minute, which leaves room for a few more tails, retries and the console's Logs Explorer in the same
   * project, and still shows output within seconds of Cloud Logging having it.
   */
  pollIntervalMs?: number;
  /**
   * How far behind the newest entry read each poll reaches again; default 10 s. Cloud Logging gives no
   * bound on its ingestion delay (typically a few seconds; its own tail API reorders over 2 s by
   * default), so 10 s catches late entries with a wide margin, while the re-read stays within one page
   * of 1000 entries for a service writing up to 100 lines a second.
   */
  overlapMs?: number;
  /** How far back the tail reads and keeps lines for instances no one follows yet; default 5 min. */
  historyMs?: number;
  /** Entries per `entries:list` page; default 1000, Google's largest, for the fewest requests. */
  pageSize?: number;
  /**
   * The tail's own cap on `entries:list` requests in any minute; default 30, half the project's quota,
   * so paging through a burst of output cannot starve other readers.
   */
  maxRequestsPerMinute?: number;
  /** First delay after a failed request, doubling up to {@link retryMaxMs}; default 5 s. */
  retryInitialMs?: number;
  /** Longest delay between retries; default 60 s, the read quota's window. */
  retryMaxMs?: number;
  /** Lines kept per instance for followers still to come; default 1000. */
  recentLines?: number;
  /** Lines queued per follower before new ones are dropped; default 1000. */
  followerBufferLines?: number;
  /**
   * How long after a line's timestamp a poll must have started before the line is handed on, so that
   * entries Cloud Logging made readable late still come out in timestamp order; default 2 s, as Cloud
   * Logging's own tail API buffers. 0 hands lines on as read.
   */
  reorderMs?: number;
  /** Clock in epoch ms, for tests; default `Date.now`. */
  now?: () => number;
  /** Told about each transient failure (the poller retries it after `retryInMs`), e.g. to record an event. */
  onRetry?: (error: BigmachineError, retryInMs: number) => void;
}

/** Defaults of {@link ServiceLogTailOptions}; the reasons are on the options. */
export const SERVICE_LOG_TAIL_DEFAULTS = {
  pollIntervalMs: 5_000,
  overlapMs: 10_000,
  historyMs: 5 * 60_000,
  pageSize: 1000,
  maxRequestsPerMinute: 30,
  retryInitialMs: 5_000,
  retryMaxMs: 60_000,
  recentLines: 1000,
  followerBufferLines: 1000,
  reorderMs: 2_000,
} as const;

/** What a tail has done so far, for tests and diagnostics. */
export interface ServiceLogTailStats extends PollerCounters {
  /** Whether the poller runs. */
  polling: boolean;
  /** Iterators following an instance now. */
  followers: number;
  /** Instances with kept lines or followers. */
  instances: number;
  /** Entries remembered for dedup (one overlap window of output). */
  remembered: number;
  /** Lines dropped for followers that read too slowly. */
  droppedLines: number;
  /** Entries with no `instanceId` label, skipped. */
  unattributed: number;
}

/** What the tail holds for one instance. */
interface InstanceLines {
  /** The last lines read, oldest first, with their timestamps. */
  recent: { line: LogLine; timeMs: number }[];
  followers: Set<FollowerQueue>;
}

/**
 * Follows the output of every instance of one Cloud Run service with one poller. Make one per driver
 * and service; {@link follow} an instance per machine; {@link close} at shutdown.
 */
export class ServiceLogTail {
  readonly serviceName: string;
  readonly #poller: LogPoller;
  readonly #instances = new Map<string, InstanceLines>();
  readonly #recentLines: number;
  readonly #followerBufferLines: number;
  readonly #historyMs: number;
  readonly #now: () => number;
  readonly #onRetry?: (error: BigmachineError, retryInMs: number) => void;
  readonly #reorder: ReorderBuffer<{ instanceId: string; line: LogLine; timeMs: number }>;
  /** When the latest complete poll started: everything readable by then has been read. */
  #readThroughMs = 0;
  #followers = 0;
  #droppedLines = 0;
  #unattributed = 0;
  #closed = false;
  #failure?: BigmachineError;

  constructor(options: ServiceLogTailOptions) {
    const settings = { ...SERVICE_LOG_TAIL_DEFAULTS, ...definedOnly(options) };
    for (const name of Object.keys(SERVICE_LOG_TAIL_DEFAULTS) as (keyof typeof SERVICE_LOG_TAIL_DEFAULTS)[]) {
      const value = settings[name];
      const allowsZero = name === "overlapMs" || name === "reorderMs";
      if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowsZero)) {
        throw errorOf("invalid", `ServiceLogTail: ${name} must be a positive number, got ${value}`, { severity: "fatal" });
      }
    }
    const sinceMs = options.since?.getTime();
    if (!Number.isFinite(sinceMs)) throw errorOf("invalid", "ServiceLogTail: since must be a valid Date", { severity: "fatal" });
    if (!options.projectId || !options.serviceName) {
      throw errorOf("invalid", "ServiceLogTail: projectId and serviceName are required", { severity: "fatal" });
    }
    this.serviceName = options.serviceName;
    this.#now = options.now ?? Date.now;
    this.#recentLines = settings.recentLines;
    this.#followerBufferLines = settings.followerBufferLines;
    this.#historyMs = settings.historyMs;
    this.#onRetry = options.onRetry;
    // Ordered by how far reads have got: what a stalled poller could still read is held back.
    this.#reorder = new ReorderBuffer(settings.reorderMs, () => this.#readThroughMs, (lines) => this.#hand(lines));
    this.#poller = new LogPoller({
      list: options.list,
      query: { projectId: options.projectId, serviceName: options.serviceName, location: options.location },
      startMs: sinceMs,
      pollIntervalMs: settings.pollIntervalMs,
      overlapMs: settings.overlapMs,
      historyMs: settings.historyMs,
      pageSize: Math.min(Math.floor(settings.pageSize), 1000),
      budget: new RequestBudget(settings.maxRequestsPerMinute, this.#now),
      retryInitialMs: settings.retryInitialMs,
      retryMaxMs: settings.retryMaxMs,
      now: this.#now,
      onEntries: (entries) => this.#deliver(entries),
      onPolled: (startedMs) => {
        this.#readThroughMs = startedMs;
        this.#reorder.release();
      },
      onRetry: (failure, retryInMs) => this.#reportRetry(failure.error, retryInMs),
      onFatal: (error) => this.#fail(error),
    });
  }

  /**
   * The lines of instance `instanceId`: what is kept of it, then new lines as they are read, until
   * `signal` aborts (the iterator ends at once), the iterator is returned, or the tail is closed (it
   * ends after the lines already queued). A permanent failure of the tail (e.g. permission denied)
   * is thrown by the iterator; transient ones never end it. Each iteration is a follower of its own;
   * any number may follow one instance. Iterating a closed tail throws kind `precondition`.
   */
  follow(instanceId: string, signal?: AbortSignal): AsyncIterable<LogLine> {
    return { [Symbol.asyncIterator]: () => this.#attach(instanceId, signal) };
  }

  /** Stops polling, hands on the lines still held for ordering, and ends every follower. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reorder.flush();
    this.#endFollowers();
  }

  /** Counters and sizes, for tests and diagnostics. */
  stats(): ServiceLogTailStats {
    return {
      ...this.#poller.counters,
      polling: this.#poller.running,
      followers: this.#followers,
      instances: this.#instances.size,
      remembered: this.#poller.remembered,
      droppedLines: this.#droppedLines,
      unattributed: this.#unattributed,
    };
  }

  #attach(instanceId: string, signal: AbortSignal | undefined): AsyncIterator<LogLine> {
    const refusal = this.#failure ?? (this.#closed ? errorOf("precondition", `log tail of ${this.serviceName} is closed`, { severity: "fatal" }) : undefined);
    if (refusal) {
      const refused = new FollowerQueue({ capacity: 1 });
      refused.end(refusal);
      return refused;
    }
    const queue = new FollowerQueue({
      capacity: this.#followerBufferLines,
      signal,
      onDetach: () => this.#detach(instanceId, queue),
      describeDrop: (count) => `[bigmachine: ${count} lines of instance ${instanceId} dropped: this follower read too slowly]`,
    });
    if (!queue.open) return queue;
    const instance = this.#instanceLines(instanceId);
    this.#forgetOld(instance);
    for (const { line } of instance.recent) this.#offer(queue, line);
    instance.followers.add(queue);
    this.#followers++;
    if (this.#followers === 1) this.#poller.start();
    return queue;
  }

  #detach(instanceId: string, queue: FollowerQueue): void {
    const instance = this.#instances.get(instanceId);
    if (!instance?.followers.delete(queue)) return;
    this.#followers--;
    if (instance.followers.size === 0 && instance.recent.length === 0) this.#instances.delete(instanceId);
    if (this.#followers === 0) this.#poller.stop();
  }

  #deliver(entries: FreshEntry[]): void {
    const lines: { timeMs: number; item: { instanceId: string; line: LogLine; timeMs: number } }[] = [];
    for (const { entry, timeMs } of entries) {
      const instanceId = instanceIdOf(entry);
      if (!instanceId) {
        this.#unattributed++;
        continue;
      }
      lines.push({ timeMs, item: { instanceId, line: entryToLine(entry, timeMs), timeMs } });
    }
    this.#reorder.add(lines);
  }

  /** Hands lines, in order, to the instances' kept lines and followers. */
  #hand(lines: { instanceId: string; line: LogLine; timeMs: number }[]): void {
    for (const { instanceId, line, timeMs } of lines) {
      const instance = this.#instanceLines(instanceId);
      instance.recent.push({ line, timeMs });
      if (instance.recent.length > this.#recentLines) instance.recent.shift();
      for (const queue of instance.followers) this.#offer(queue, line);
    }
    for (const [instanceId, instance] of this.#instances) {
      this.#forgetOld(instance);
      if (instance.recent.length === 0 && instance.followers.size === 0) this.#instances.delete(instanceId);
    }
  }

  #instanceLines(instanceId: string): InstanceLines {
    let instance = this.#instances.get(instanceId);
    if (!instance) {
      instance = { recent: [], followers: new Set() };
      this.#instances.set(instanceId, instance);
    }
    return instance;
  }

  #offer(queue: FollowerQueue, line: LogLine): void {
    if (!queue.push(line)) this.#droppedLines++;
  }

  /** Drops kept lines older than the history window. */
  #forgetOld(instance: InstanceLines): void {
    const cutoffMs = this.#now() - this.#historyMs;
    let stale = 0;
    while (stale < instance.recent.length && instance.recent[stale].timeMs < cutoffMs) stale++;
    if (stale > 0) instance.recent.splice(0, stale);
  }

  #reportRetry(error: BigmachineError, retryInMs: number): void {
    try {
      this.#onRetry?.(error, retryInMs);
    } catch {
      // A failing observer must not stop the tail.
    }
  }

  #fail(error: BigmachineError): void {
    this.#failure = error;
    this.#endFollowers(error);
  }

  #endFollowers(error?: BigmachineError): void {
    this.#poller.stop();
    this.#reorder.clear();
    const queues = [...this.#instances.values()].flatMap((instance) => [...instance.followers]);
    this.#instances.clear();
    this.#followers = 0;
    for (const queue of queues) queue.end(error);
  }
}

/** `options` without the keys whose value is undefined, so they do not hide defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
