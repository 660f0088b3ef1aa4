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

/** The part of the official client the adapter uses. */
export type EntryLister = Pick<Logging, "getEntries">;

/**
 * A {@link ListEntries} that calls `logging.getEntries` one page at a time. Build the client as the
 * emulators document (`loggingClientOptions()`: REST transport, explicit auth client) or with real
 * credentials for Google. The client's own retries are turned off: the tail decides when to retry,
 * so every attempt is counted against the read quota it keeps to. The client cannot abort a call in
 * flight, so `signal` is not passed on; the tail ignores answers it no longer wants.
 */
export function listEntriesWith(logging: EntryLister): ListEntries {
  return async (request) => {
    const [entries, nextQuery] = await logging.getEntries({
      resourceNames: request.resourceNames,
      filter: request.filter,
      orderBy: request.orderBy,
      pageSize: request.pageSize,
      pageToken: request.pageToken,
      autoPaginate: false,
      gaxOptions: { maxRetries: 0 },
    });
    const page: ListEntriesPage = { entries: entries.map((entry) => fromClientEntry(entry.metadata, entry.data)) };
    const nextPageToken = (nextQuery as { pageToken?: string } | null | undefined)?.pageToken;
    if (nextPageToken) page.nextPageToken = nextPageToken;
    return page;
  };
}

/**
 * The official client keeps the entry's fields in `metadata` (with `timestamp` as a `Date`) and its
 * payload, decoded from protobuf form, in `data`; `metadata.payload` names the payload's field.
 */
function fromClientEntry(metadata: Record<string, any>, data: unknown): TailEntry {
  const entry: TailEntry = {
    logName: metadata.logName,
    timestamp: metadata.timestamp,
    insertId: metadata.insertId,
    labels: metadata.labels,
  };
  const payloadField = metadata.payload as string | undefined;
  if (payloadField === "textPayload" && typeof data === "string") entry.textPayload = data;
  else if (payloadField === "jsonPayload" && data && typeof data === "object") entry.jsonPayload = data as Record<string, unknown>;
  else if (payloadField === "protoPayload") entry.protoPayload = data;
  return entry;
}
