/**
 * @module
 * The Cloud Run System's parts. So far: the log tail, which follows every machine's output through
 * Cloud Logging with one query per service.
 */
export { ServiceLogTail, SERVICE_LOG_TAIL_DEFAULTS } from "./log-tail.ts";
export type { ServiceLogTailOptions, ServiceLogTailStats } from "./log-tail.ts";
export { listEntriesWith } from "./list-entries.ts";
export type { EntryLister, ListEntries, ListEntriesPage, ListEntriesRequest } from "./list-entries.ts";
export type { TailEntry } from "./log-query.ts";
