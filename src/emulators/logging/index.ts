/**
 * @module
 * The Cloud Logging emulator: Google's Logging v2 REST API (`entries:write`, `entries:list` with the
 * query language, paging, ingestion delay and the read quota) over in-memory storage, and the rules by
 * which Cloud Run's agent turns container output into log entries.
 */
export { LOGGING_EMULATOR_DEFAULTS, LoggingEmulator } from "./logging-emulator.ts";
export type { LoggingEmulatorOptions } from "./logging-emulator.ts";
export { lineToEntry } from "./line-to-entry.ts";
export { preciseTimestamp, preciseTimestampKey } from "./precise-clock.ts";
export type { LineSource } from "./line-to-entry.ts";
export { compileFilter } from "./filter/compile.ts";
export type { EntryPredicate } from "./filter/compile.ts";
export { parseFilter } from "./filter/parser.ts";
export { FilterError } from "./filter/ast.ts";
export type { CompareOp, FilterNode } from "./filter/ast.ts";
export { ApiError } from "./api-error.ts";
export type { ApiErrorBody, ApiErrorStatus } from "./api-error.ts";
export { SEVERITY_VALUES } from "./severity.ts";
export type { SeverityName } from "./severity.ts";
