/**
 * @module
 * Exports of the Cloud Run System's parts. The log tail follows the output of every machine of a
 * service through Cloud Logging, with one query per driver and service.
 */
export { ServiceLogTail, SERVICE_LOG_TAIL_DEFAULTS } from "./log-tail.ts";
export type { ServiceLogTailOptions, ServiceLogTailStats } from "./log-tail.ts";
export { listEntriesWith } from "./list-entries.ts";
export type { EntryLister, ListEntries, ListEntriesPage, ListEntriesRequest } from "./list-entries.ts";
export type { TailEntry } from "./log-query.ts";
