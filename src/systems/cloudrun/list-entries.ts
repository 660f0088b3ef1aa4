/**
 * @module
 * The one Cloud Logging call a tail makes, `entries:list`, as a small function type, and the adapter
 * that makes it with the official `@google-cloud/logging` client.
 *
 * Tails call a {@link ListEntries} rather than the client, so a test (or a caller with its own HTTP
 * stack) can count, delay or fail calls without touching the client.
 */
import type { Logging } from "@google-cloud/logging";
import type { TailEntry } from "./log-query.ts";

/** One `entries:list` request, in its REST form. */
export interface ListEntriesRequest {
  /** `projects/P`. */
  resourceNames: string[];
  filter: string;
  orderBy: "timestamp asc";
  /** Entries per page, at most 1000. */
  pageSize: number;
  /** The `nextPageToken` of the previous page of the same query. */
  pageToken?: string;
  /** Aborts when the tail no longer wants the answer; implementations may ignore it. */
  signal?: AbortSignal;
}

/** One page of an `entries:list` answer. */
export interface ListEntriesPage {
  entries: TailEntry[];
  /** Set when more of the query is left to read, even if `entries` is empty (the search is not finished). */
  nextPageToken?: string;
}

/**
 * Lists one page of log entries. Rejects with what the service answered: the official client's
 * errors carry a gRPC `code` (8 RESOURCE_EXHAUSTED for the read quota); an HTTP-level implementation
 * may reject with an HTTP `status` instead (see `list-errors.ts`).
 */
export type ListEntries = (request: ListEntriesRequest) => Promise<ListEntriesPage>;

/** The part of the official client the adapter uses: its generated `entries:list` method. */
export type EntryLister = Pick<Logging, "loggingService">;

/**
 * A {@link ListEntries} that calls the official client's `entries:list` one page at a time. Build the
 * client as the emulators document (`loggingClientOptions()`: REST transport, explicit auth client)
 * or with real credentials for Google. It uses the client's generated method rather than
 * `getEntries`, which turns each timestamp into a `Date` and so drops what is finer than a millisecond:
 * lines written in the same millisecond could then not be put back in order. The client's own retries
 * are turned off: the tail decides when to retry, so every attempt is counted against the read quota it
 * keeps to. The client cannot abort a call in flight, so `signal` is not passed on; the tail ignores
 * answers it no longer wants.
 */
export function listEntriesWith(logging: EntryLister): ListEntries {
  return async (request) => {
    const [entries, , response] = await logging.loggingService.listLogEntries(
      {
        resourceNames: request.resourceNames,
        filter: request.filter,
        orderBy: request.orderBy,
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      },
      { autoPaginate: false, maxRetries: 0 },
    );
    const page: ListEntriesPage = { entries: (entries ?? []).map(fromApiEntry) };
    const nextPageToken = (response as { nextPageToken?: string | null } | undefined)?.nextPageToken;
    if (nextPageToken) page.nextPageToken = nextPageToken;
    return page;
  };
}

/** The fields of an API entry a tail reads; its timestamp keeps its nanoseconds. */
function fromApiEntry(entry: Record<string, any>): TailEntry {
  const out: TailEntry = { logName: entry.logName, timestamp: entry.timestamp, insertId: entry.insertId, labels: entry.labels };
  if (typeof entry.textPayload === "string") out.textPayload = entry.textPayload;
  else if (entry.jsonPayload && typeof entry.jsonPayload === "object") out.jsonPayload = structToObject(entry.jsonPayload);
  else if (entry.protoPayload != null) out.protoPayload = entry.protoPayload;
  return out;
}

/** A protobuf Struct (`{fields: {k: {stringValue: ...}}}`) as a plain object; a plain object as it is. */
function structToObject(struct: Record<string, any>): Record<string, unknown> {
  if (!struct.fields || typeof struct.fields !== "object") return struct;
  const value = (v: Record<string, any>): unknown => {
    if (v == null) return null;
    if ("stringValue" in v) return v.stringValue;
    if ("numberValue" in v) return v.numberValue;
    if ("boolValue" in v) return v.boolValue;
    if ("nullValue" in v) return null;
    if ("structValue" in v) return structToObject(v.structValue ?? {});
    if ("listValue" in v) return (v.listValue?.values ?? []).map(value);
    return undefined;
  };
  return Object.fromEntries(Object.entries(struct.fields as Record<string, Record<string, any>>).map(([k, v]) => [k, value(v)]));
}
