/**
 * @module
 * Finding a filter's field in a log entry. Paths start at a `LogEntry` field (camelCase, or the
 * snake_case spelling the query language also accepts) and walk maps and structs by exact,
 * case-sensitive keys. Arrays are walked element by element, so a comparison on a list matches if any
 * element does.
 */
import type { LogEntry } from "../../contracts.ts";

const SNAKE_CASE_ALIASES: Record<string, string> = {
  log_name: "logName",
  receive_timestamp: "receiveTimestamp",
  insert_id: "insertId",
  http_request: "httpRequest",
  span_id: "spanId",
  trace_sampled: "traceSampled",
  source_location: "sourceLocation",
  text_payload: "textPayload",
  json_payload: "jsonPayload",
  proto_payload: "protoPayload",
  error_groups: "errorGroups",
};

/** The top-level fields of a `LogEntry` a filter may name. */
export const LOG_ENTRY_FIELDS: ReadonlySet<string> = new Set([
  "logName", "resource", "timestamp", "receiveTimestamp", "severity", "insertId", "httpRequest", "labels",
  "operation", "trace", "spanId", "traceSampled", "sourceLocation", "split", "errorGroups",
  "textPayload", "jsonPayload", "protoPayload",
]);

/** The path with its first segment in canonical (camelCase) spelling. */
export function canonicalPath(path: readonly string[]): string[] {
  const [first, ...rest] = path;
  return [SNAKE_CASE_ALIASES[first] ?? first, ...rest];
}

/**
 * Every value at `path` in `entry` (several when the path crosses an array); empty when the field is
 * missing. JSON nulls count as missing.
 */
export function resolveField(entry: LogEntry, path: readonly string[]): unknown[] {
  let current: unknown[] = [entry];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const value of current) collectChild(value, segment, next);
    if (next.length === 0) return next;
    current = next;
  }
  return current.flatMap((value) => (Array.isArray(value) ? value : [value])).filter((v) => v != null);
}

function collectChild(value: unknown, key: string, into: unknown[]): void {
  if (Array.isArray(value)) {
    for (const element of value) collectChild(element, key, into);
    return;
  }
  if (value !== null && typeof value === "object" && Object.hasOwn(value, key)) {
    const child = (value as Record<string, unknown>)[key];
    if (child != null) into.push(child);
  }
}

/** Every scalar (string, number, boolean) anywhere inside `value`, for text search. */
export function* scalarLeaves(value: unknown): Generator<string | number | boolean> {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    yield value;
  } else if (Array.isArray(value)) {
    for (const element of value) yield* scalarLeaves(element);
  } else if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) yield* scalarLeaves(child);
  }
}
