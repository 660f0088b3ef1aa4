/**
 * @module
 * Reading an `entries:write` request: first the JSON mapping (field names, in camelCase or snake_case,
 * and their types; any mistake rejects the whole request, as Google's JSON parser does), then each
 * entry on its own (request defaults applied, required fields, log name, limits), where a failure
 * rejects only that entry if the request asked for `partialSuccess`.
 */
import type { LogEntry } from "../contracts.ts";
import { ApiError, invalidArgument } from "./api-error.ts";
import {
  type CompletedEntry,
  completeEntry,
  type CompletionContext,
  entryLimitProblem,
  InvalidEntryError,
  logNameProblem,
} from "./log-entry.ts";
import { severityFromWire } from "./severity.ts";

type Json = Record<string, unknown>;
type FieldType = "string" | "boolean" | "object" | "array" | "labels" | "resource" | "severity" | "entries";

const REQUEST_FIELDS: Record<string, FieldType> = {
  logName: "string",
  resource: "resource",
  labels: "labels",
  entries: "entries",
  partialSuccess: "boolean",
  dryRun: "boolean",
};
const ENTRY_FIELDS: Record<string, FieldType> = {
  logName: "string",
  resource: "resource",
  timestamp: "string",
  receiveTimestamp: "string",
  severity: "severity",
  insertId: "string",
  httpRequest: "object",
  labels: "labels",
  metadata: "object",
  operation: "object",
  trace: "string",
  spanId: "string",
  traceSampled: "boolean",
  sourceLocation: "object",
  split: "object",
  errorGroups: "array",
  protoPayload: "object",
  textPayload: "string",
  jsonPayload: "object",
};
const RESOURCE_FIELDS: Record<string, FieldType> = { type: "string", labels: "labels" };
const PAYLOADS = ["protoPayload", "textPayload", "jsonPayload"];

/** An `entries:write` request whose JSON is well formed. */
export interface WriteRequest {
  logName?: string;
  resource?: LogEntry["resource"];
  labels?: Record<string, string>;
  entries: Json[];
  partialSuccess: boolean;
  dryRun: boolean;
}

/** Checks the JSON mapping of a request body; throws a 400 {@link ApiError} naming the bad field. */
export function readWriteRequest(body: unknown): WriteRequest {
  if (!isObject(body)) throw invalidJson("the request body must be a JSON object");
  const request = readMessage(body, REQUEST_FIELDS, "");
  const entries = (request.entries as Json[] | undefined) ?? [];
  entries.forEach((entry, index) => {
    const path = `entries[${index}]`;
    entries[index] = readMessage(entry, ENTRY_FIELDS, path);
    const payloads = PAYLOADS.filter((field) => entries[index][field] !== undefined);
    if (payloads.length > 1) throw invalidJson(`${path} sets more than one payload field (${payloads.join(", ")})`);
  });
  if (entries.length === 0) throw invalidArgument("entries: at least one log entry is required");
  return {
    logName: request.logName as string | undefined,
    resource: request.resource as LogEntry["resource"] | undefined,
    labels: request.labels as Record<string, string> | undefined,
    entries,
    partialSuccess: request.partialSuccess === true,
    dryRun: request.dryRun === true,
  };
}

/** The outcome of checking each entry of a request. */
export interface PreparedWrite {
  accepted: CompletedEntry[];
  /** Why each rejected entry (by index) was rejected. */
  rejected: Map<number, string>;
}

/** Applies the request's defaults to each entry, completes it, and checks it. */
export function prepareWrite(request: WriteRequest, context: CompletionContext): PreparedWrite {
  const accepted: CompletedEntry[] = [];
  const rejected = new Map<number, string>();
  request.entries.forEach((raw, index) => {
    try {
      const completed = prepareEntry(request, raw, context);
      const problem = entryLimitProblem(completed, context.nowMs);
      if (problem) rejected.set(index, problem);
      else accepted.push(completed);
    } catch (err) {
      if (!(err instanceof InvalidEntryError)) throw err;
      rejected.set(index, err.message);
    }
  });
  return { accepted, rejected };
}

/** The error for a write whose entries were (partly) rejected, with Google's per-entry details. */
export function rejectedEntriesError(rejected: Map<number, string>, total: number): ApiError {
  const [firstIndex, firstMessage] = rejected.entries().next().value as [number, string];
  const logEntryErrors = Object.fromEntries(
    [...rejected].map(([index, message]) => [String(index), { code: 3, message }]),
  );
  const others = rejected.size > 1 ? ` (and ${rejected.size - 1} more of ${total} entries)` : "";
  return invalidArgument(`Log entry with index ${firstIndex} is invalid: ${firstMessage}${others}`, [
    { "@type": "type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors", logEntryErrors },
  ]);
}

function prepareEntry(request: WriteRequest, raw: Json, context: CompletionContext): CompletedEntry {
  const logName = (raw.logName as string | undefined) ?? request.logName;
  const resource = (raw.resource as LogEntry["resource"] | undefined) ?? request.resource;
  if (!logName) throw new InvalidEntryError("logName is required, in the entry or in the request");
  if (!resource) throw new InvalidEntryError("resource is required, in the entry or in the request");
  if (!resource.type) throw new InvalidEntryError("resource.type is required");
  const problem = logNameProblem(logName);
  if (problem) throw new InvalidEntryError(problem);
  const labels = { ...request.labels, ...(raw.labels as Record<string, string> | undefined) };
  const entry: LogEntry = {
    ...raw,
    logName,
    resource: { type: resource.type, labels: { ...resource.labels } },
    labels,
  };
  delete entry.receiveTimestamp; // output only
  return completeEntry(entry, context);
}

/** Checks a message's field names and types; returns it with snake_case names in camelCase. */
function readMessage(message: unknown, fields: Record<string, FieldType>, path: string): Json {
  if (!isObject(message)) throw invalidJson(`${path || "the request"} must be a JSON object`);
  const result: Json = {};
  for (const [rawName, value] of Object.entries(message)) {
    const name = rawName.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
    const type = fields[name];
    const at = path ? `${path}.${name}` : name;
    if (!type) throw invalidJson(`Unknown name "${rawName}"${path ? ` at '${path}'` : ""}: Cannot find field.`);
    if (value === null) continue;
    checkType(value, type, at);
    result[name] = type === "resource" ? readMessage(value, RESOURCE_FIELDS, at) : value;
  }
  return result;
}

function checkType(value: unknown, type: FieldType, at: string): void {
  const ok = (() => {
    switch (type) {
      case "string":
        return typeof value === "string";
      case "boolean":
        return typeof value === "boolean";
      case "object":
      case "resource":
        return isObject(value);
      case "array":
        return Array.isArray(value);
      case "entries":
        return Array.isArray(value) && value.every(isObject);
      case "labels":
        return isObject(value) && Object.values(value).every((v) => typeof v === "string");
      case "severity":
        return severityFromWire(value) !== undefined;
    }
  })();
  if (ok) return;
  if (type === "severity") {
    throw invalidJson(`Invalid value at '${at}' (type.googleapis.com/google.logging.type.LogSeverity), ${JSON.stringify(value)}`);
  }
  const expected = type === "labels" ? "a map of strings" : type === "entries" ? "a list of objects" : `a ${type}`;
  throw invalidJson(`Invalid value at '${at}': expected ${expected}, got ${JSON.stringify(value)}`);
}

function invalidJson(problem: string): ApiError {
  return invalidArgument(`Invalid JSON payload received. ${problem}`);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
