/**
 * @module
 * Completing and checking one `LogEntry` on its way into storage: the server-filled fields
 * (`timestamp`, `insertId`, `receiveTimestamp`), the output forms (severity as a name, timestamps
 * Z-normalized), and Google's documented limits. Shared by `entries:write` and the agent's path.
 */
import type { LogEntry } from "../contracts.ts";
import { severityFromWire } from "./severity.ts";
import { formatTimestampKey, msFromTimestampKey, parseTimestamp } from "./timestamp.ts";

/** Google's limits on a log entry. */
export const LOG_ENTRY_LIMITS = {
  maxEntryBytes: 256 * 1024,
  maxLabels: 64,
  maxLabelValueBytes: 64 * 1024,
  maxLogIdLength: 511,
  /** How far in the future a timestamp may be. */
  maxFutureMs: 24 * 60 * 60 * 1000,
  /** The default retention: older entries are rejected. */
  retentionMs: 30 * 24 * 60 * 60 * 1000,
};

const LOG_NAME = /^(projects|organizations|folders|billingAccounts)\/([^/]+)\/logs\/(.+)$/;
const LOG_ID_CHARACTERS = /^[A-Za-z0-9/_\-.]+$/;

/** A log entry ready for the store. */
export interface CompletedEntry {
  entry: LogEntry;
  /** `projects/P` (or another parent) the entry belongs to. */
  parent: string;
  timeKey: string;
  insertId: string;
}

/** A log entry that cannot be accepted; the message says why. */
export class InvalidEntryError extends Error {
  override name = "InvalidEntryError";
}

/** The parent (`projects/P`) and the decoded log ID of a log name, or undefined if it has neither. */
export function parseLogName(logName: string): { parent: string; logId: string } | undefined {
  const match = LOG_NAME.exec(logName.startsWith("/") ? logName.slice(1) : logName);
  if (!match) return undefined;
  try {
    return { parent: `${match[1]}/${match[2]}`, logId: decodeURIComponent(match[3]) };
  } catch {
    return undefined;
  }
}

/** Why `logName` is not a valid log name, or undefined if it is one. */
export function logNameProblem(logName: string): string | undefined {
  const name = logName.startsWith("/") ? logName.slice(1) : logName;
  const match = LOG_NAME.exec(name);
  if (!match) return `Invalid log name "${logName}": expected projects/PROJECT_ID/logs/LOG_ID`;
  const encodedId = match[3];
  if (encodedId.includes("/")) return `Invalid log name "${logName}": the log ID must be URL-encoded (write / as %2F)`;
  const logId = parseLogName(name)?.logId;
  if (logId === undefined || !LOG_ID_CHARACTERS.test(logId)) {
    return `Invalid log name "${logName}": a log ID may contain only letters, digits, '/', '_', '-' and '.'`;
  }
  if (logId.length > LOG_ENTRY_LIMITS.maxLogIdLength) return `Invalid log name "${logName}": the log ID is too long`;
  return undefined;
}

/** Server-side facts needed to complete an entry. */
export interface CompletionContext {
  nowMs: number;
  /** Now as a timestamp key, with whatever sub-millisecond digits the clock has. */
  nowKey: string;
  newInsertId: () => string;
}

/**
 * Fills in what the server fills in and puts the entry in its output form. Throws
 * {@link InvalidEntryError} if `logName`, `timestamp` or `severity` cannot be read. The input is not
 * modified.
 */
export function completeEntry(input: LogEntry, context: CompletionContext): CompletedEntry {
  const entry: LogEntry = { ...input };
  if (entry.logName.startsWith("/")) entry.logName = entry.logName.slice(1);
  const name = parseLogName(entry.logName);
  if (!name) throw new InvalidEntryError(`Invalid log name "${input.logName}"`);

  let timeKey: string;
  if (entry.timestamp === undefined) {
    timeKey = context.nowKey;
  } else {
    const parsed = typeof entry.timestamp === "string" ? parseTimestamp(entry.timestamp) : undefined;
    if (!parsed) throw new InvalidEntryError(`Invalid timestamp ${JSON.stringify(entry.timestamp)}: expected RFC 3339`);
    timeKey = parsed.key;
  }
  entry.timestamp = formatTimestampKey(timeKey);
  entry.receiveTimestamp = formatTimestampKey(context.nowKey);

  if (entry.severity !== undefined) {
    const severity = severityFromWire(entry.severity);
    if (severity === undefined) throw new InvalidEntryError(`Invalid severity ${JSON.stringify(entry.severity)}`);
    // DEFAULT is the enum's zero value, which the JSON form leaves out.
    if (severity === "DEFAULT") delete entry.severity;
    else entry.severity = severity;
  }
  if (entry.insertId === undefined || entry.insertId === "") entry.insertId = context.newInsertId();
  if (entry.labels && Object.keys(entry.labels).length === 0) delete entry.labels;
  return { entry, parent: name.parent, timeKey, insertId: entry.insertId };
}

/**
 * Why a completed entry breaks one of Google's documented limits (size, labels, timestamp range), or
 * undefined if it breaks none.
 */
export function entryLimitProblem(completed: CompletedEntry, nowMs: number): string | undefined {
  const { entry } = completed;
  const labels = Object.entries(entry.labels ?? {});
  if (labels.length > LOG_ENTRY_LIMITS.maxLabels) {
    return `Log entry has ${labels.length} labels; at most ${LOG_ENTRY_LIMITS.maxLabels} are allowed`;
  }
  const longLabel = labels.find(([, value]) => Buffer.byteLength(value) > LOG_ENTRY_LIMITS.maxLabelValueBytes);
  if (longLabel) return `Label "${longLabel[0]}" is longer than ${LOG_ENTRY_LIMITS.maxLabelValueBytes} bytes`;
  const size = Buffer.byteLength(JSON.stringify(entry));
  if (size > LOG_ENTRY_LIMITS.maxEntryBytes) {
    return `Log entry with size ${size} bytes exceeds maximum size of ${LOG_ENTRY_LIMITS.maxEntryBytes} bytes`;
  }
  const timeMs = msFromTimestampKey(completed.timeKey);
  if (timeMs > nowMs + LOG_ENTRY_LIMITS.maxFutureMs) {
    return `Log entry timestamp ${entry.timestamp} is more than 24 hours in the future`;
  }
  if (timeMs < nowMs - LOG_ENTRY_LIMITS.retentionMs) {
    return `Log entry timestamp ${entry.timestamp} is older than the logs retention period`;
  }
  return undefined;
}
