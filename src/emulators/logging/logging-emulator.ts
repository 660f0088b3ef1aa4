/**
 * @module
 * The Cloud Logging emulator: in-memory log storage behind Google's v2 REST API (`entries:write`,
 * `entries:list`), plus the agent's path ({@link LoggingEmulator.ingest}) the serving plane feeds
 * instance output through.
 *
 * Fidelity points a caller may rely on (and tests can tune):
 * - Entries become visible to `entries:list` only after an ingestion delay (default 1 s), as Cloud
 *   Logging is not instant; the delay in force when an entry arrives applies to it. Entries from the
 *   agent's path wait a further random time each (up to `ingestionJitterMs`), so an entry can become
 *   readable after one with a later timestamp.
 * - Timestamps the server fills in carry sub-millisecond digits, and the insertIds it makes are random,
 *   so they do not follow write order.
 * - `entries:list` pages: at most 1000 entries (a bigger `pageSize` is refused); with `shortPageRate`,
 *   that share of pages come back short or empty yet still carry a `nextPageToken`, as Google's may.
 * - `entries:list` is limited to `readQuotaPerMinute` calls per project in any sliding minute (default
 *   60, Google's fixed limit); past it, 429 RESOURCE_EXHAUSTED. `ingest` and `entries:write` are free.
 * - At most `maxEntries` entries are kept (default 100 000); past that the oldest by timestamp are
 *   dropped, so memory stays bounded however long the emulator runs.
 * - Requests are not authenticated: any or no bearer token is accepted.
 */
import { randomBytes } from "node:crypto";
import type { Random } from "../random.ts";
import type { Hono } from "hono";
import type { LogEntry, LogSink } from "../contracts.ts";
import { invalidArgument } from "./api-error.ts";
import { createLoggingApp, type LoggingApi } from "./app.ts";
import { EntryStore } from "./entry-store.ts";
import { FilterError } from "./filter/ast.ts";
import { compileFilter, type EntryPredicate } from "./filter/compile.ts";
import { readListRequest } from "./list-request.ts";
import { type CompletedEntry, completeEntry, InvalidEntryError } from "./log-entry.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import { preciseTimestampKey } from "./precise-clock.ts";
import { ReadQuota } from "./read-quota.ts";
import { timestampKeyFromMs } from "./timestamp.ts";
import { prepareWrite, readWriteRequest, rejectedEntriesError } from "./write-request.ts";

/** Options for {@link LoggingEmulator}. */
export interface LoggingEmulatorOptions {
  projectId: string;
  /** Delay between ingest/write and visibility in entries:list (Cloud Logging is not instant). Default 1000 ms. */
  ingestionDelayMs?: number;
  /** entries:list requests allowed per project per minute (Google: 60, not increasable). Default 60. */
  readQuotaPerMinute?: number;
  /**
   * Entries from the agent's path ({@link LoggingEmulator.ingest}) wait a further random time up to
   * this before they are readable, each its own. Default 0 here; `startEmulators` defaults it to 2000.
   */
  ingestionJitterMs?: number;
  /**
   * The share (0 to 1) of `entries:list` pages cut short (possibly to nothing) while still carrying a
   * `nextPageToken`. Default 0 here; `startEmulators` defaults it to 0.05.
   */
  shortPageRate?: number;
  /** Where random draws come from (delays, short pages). Default Math.random. */
  random?: Random;
  /** Clock, for tests. Default Date.now (and server timestamps then carry sub-millisecond digits). */
  now?: () => number;
  /** Most entries kept in memory; the oldest by timestamp are dropped first. Default 100 000. */
  maxEntries?: number;
}

/** Defaults of {@link LoggingEmulatorOptions}. */
export const LOGGING_EMULATOR_DEFAULTS = {
  ingestionDelayMs: 1000,
  ingestionJitterMs: 0,
  shortPageRate: 0,
  readQuotaPerMinute: 60,
  maxEntries: 100_000,
};

/** An in-memory Cloud Logging; serve {@link app} with `serveApp`. */
export class LoggingEmulator implements LogSink, LoggingApi {
  readonly projectId: string;
  /** The REST API. */
  readonly app: Hono;
  /** Delay before new entries become visible to reads; changeable at run time (applies to new entries). */
  ingestionDelayMs: number;
  /** Most further random delay of each agent entry; changeable at run time (applies to new entries). */
  ingestionJitterMs: number;
  /** Share of list pages cut short; changeable at run time. */
  shortPageRate: number;
  readonly #now: () => number;
  readonly #nowKey: () => string;
  readonly #random: Random;
  readonly #store: EntryStore;
  readonly #quota: ReadQuota;

  constructor(options: LoggingEmulatorOptions) {
    this.projectId = options.projectId;
    this.ingestionDelayMs = options.ingestionDelayMs ?? LOGGING_EMULATOR_DEFAULTS.ingestionDelayMs;
    this.ingestionJitterMs = options.ingestionJitterMs ?? LOGGING_EMULATOR_DEFAULTS.ingestionJitterMs;
    this.shortPageRate = options.shortPageRate ?? LOGGING_EMULATOR_DEFAULTS.shortPageRate;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    const now = options.now;
    // A test clock has milliseconds only; the real one has the high-resolution digits.
    this.#nowKey = now ? () => timestampKeyFromMs(now()) : preciseTimestampKey;
    this.#store = new EntryStore(options.maxEntries ?? LOGGING_EMULATOR_DEFAULTS.maxEntries);
    this.#quota = new ReadQuota(options.readQuotaPerMinute ?? LOGGING_EMULATOR_DEFAULTS.readQuotaPerMinute, this.#now);
    this.app = createLoggingApp(this);
  }

  /** `entries:list` calls allowed per project per minute; changeable at run time. */
  get readQuotaPerMinute(): number {
    return this.#quota.perMinute;
  }

  set readQuotaPerMinute(perMinute: number) {
    this.#quota.perMinute = perMinute;
  }

  /** Most entries kept; lowering it drops the oldest at the next store. */
  get maxEntries(): number {
    return this.#store.maxEntries;
  }

  set maxEntries(maxEntries: number) {
    this.#store.maxEntries = maxEntries;
  }

  /** How many entries are stored, visible or not yet. */
  get entryCount(): number {
    return this.#store.size;
  }

  /** Copies of every stored entry, visible or not yet, in list order (timestamp, then insertId). */
  entries(): LogEntry[] {
    return this.#store.all().map((stored) => structuredClone(stored.entry));
  }

  /** Drops every entry. */
  clear(): void {
    this.#store.clear();
  }

  /** Forgets the `entries:list` calls counted against the read quota. */
  resetReadQuota(): void {
    this.#quota.reset();
  }

  /**
   * The agent's path: stores entries as Cloud Run's logging agent would, with no quota and no checks
   * beyond shape. Fills `timestamp`, `insertId` and `receiveTimestamp` when missing. Throws a
   * `TypeError` for an entry without a readable `logName`, `resource.type`, timestamp or severity.
   */
  ingest(entries: LogEntry[]): void {
    const nowMs = this.#now();
    const context = { nowMs, nowKey: this.#nowKey(), newInsertId: () => this.#newInsertId() };
    const completed = entries.map((entry) => {
      if (typeof entry?.logName !== "string" || typeof entry.resource?.type !== "string") {
        throw new TypeError("LoggingEmulator.ingest: every entry needs a logName and a resource.type");
      }
      try {
        return completeEntry(entry, context);
      } catch (err) {
        if (err instanceof InvalidEntryError) throw new TypeError(`LoggingEmulator.ingest: ${err.message}`);
        throw err;
      }
    });
    this.#storeAll(completed, nowMs, this.ingestionJitterMs);
  }

  /** `entries:write`; see `write-request.ts` for what is checked. */
  writeEntries(body: unknown): Record<string, unknown> {
    const request = readWriteRequest(body);
    const nowMs = this.#now();
    const { accepted, rejected } = prepareWrite(request, { nowMs, nowKey: this.#nowKey(), newInsertId: () => this.#newInsertId() });
    const failure = rejected.size > 0 ? rejectedEntriesError(rejected, request.entries.length) : undefined;
    if (failure && !request.partialSuccess) throw failure;
    if (!request.dryRun) this.#storeAll(accepted, nowMs, 0);
    if (failure) throw failure;
    return {};
  }

  /** `entries:list`: counts against the read quota, then filters, orders and pages visible entries. */
  listEntries(body: unknown): Record<string, unknown> {
    const request = readListRequest(body);
    this.#quota.charge([...request.parents][0]);
    const matches = compileChecked(request.filter);
    const nowMs = this.#now();
    const tokenQuery = { resourceNames: request.resourceNames, orderBy: request.orderBy };
    const position = request.pageToken ? decodePageToken(request.pageToken, tokenQuery, nowMs) : undefined;
    const page = this.#store.query({
      parents: request.parents,
      matches,
      descending: request.orderBy === "timestamp desc",
      after: position?.cursor,
      limit: request.pageSize,
      nowMs,
    });
    let { entries, more } = page;
    // Cut some pages short (never the one after an empty page, so paging always moves on).
    if (!position?.afterEmptyPage && this.shortPageRate > 0 && this.#random() < this.shortPageRate) {
      entries = entries.slice(0, Math.floor(this.#random() * entries.length));
      more = true;
    }
    const reply: Record<string, unknown> = {};
    // Empty lists and strings are left out, as in Google's JSON.
    if (entries.length > 0) reply.entries = entries.map((stored) => stored.entry);
    if (more) reply.nextPageToken = encodePageToken(tokenQuery, entries.at(-1) ?? position?.cursor, nowMs, entries.length === 0);
    return reply;
  }

  #storeAll(completed: CompletedEntry[], nowMs: number, jitterMs: number): void {
    for (const entry of completed) {
      const visibleAtMs = nowMs + this.ingestionDelayMs + (jitterMs > 0 ? Math.round(this.#random() * jitterMs) : 0);
      this.#store.add({ ...entry, visibleAtMs });
    }
  }

  #newInsertId(): string {
    // Random, as Google's are: among entries with equal timestamps, list order is not write order.
    return randomBytes(10).toString("hex");
  }
}

function compileChecked(filter: string): EntryPredicate {
  try {
    return compileFilter(filter);
  } catch (err) {
    if (err instanceof FilterError) throw invalidArgument(err.message);
    throw err;
  }
}
