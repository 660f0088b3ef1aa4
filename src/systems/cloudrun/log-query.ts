/**
 * @module
 * What the Cloud Run System asks Cloud Logging for when it tails a service, and how an answer becomes
 * lines of machine output.
 *
 * - One filter covers every instance of one service: the `cloud_run_revision` entries of the service's
 *   stdout and stderr logs that carry an `instanceId` label, from a lower time bound on. Instances are
 *   told apart afterwards, from the label, so a tail costs one query however many machines it follows.
 * - An entry becomes a {@link LogLine}: `stream` from the log name, `text` from `textPayload`, or the
 *   `message` of a JSON payload (else the payload's JSON text), `time` from the entry's timestamp.
 */
import type { LogLine } from "../../core.ts";

/**
 * A log entry as a tail reads it: the fields it uses, in any of the forms they arrive in (REST JSON,
 * the official client's `Entry.metadata`, or protobuf objects).
 */
export interface TailEntry {
  logName?: string | null;
  /** RFC 3339 text (REST), a `Date` (the official client), or `{seconds, nanos}` (protobuf). */
  timestamp?: string | Date | { seconds?: number | string | null; nanos?: number | null } | null;
  insertId?: string | null;
  labels?: Record<string, string> | null;
  textPayload?: string | null;
  jsonPayload?: Record<string, unknown> | null;
  protoPayload?: unknown;
}

/** The Cloud Run logs a tail reads: what machine code writes to stdout and stderr. */
export const TAILED_LOGS = ["run.googleapis.com%2Fstdout", "run.googleapis.com%2Fstderr"] as const;

/** What one tail query selects. */
export interface ServiceLogQuery {
  projectId: string;
  serviceName: string;
  /** The service's region; when set, a same-named service in another region is left out. */
  location?: string;
}

/**
 * The filter for every tailed line of a service written at or after `fromMs` (epoch milliseconds).
 * The timestamp clause also keeps the official client from adding its own 24-hour clause.
 */
export function serviceLogFilter(query: ServiceLogQuery, fromMs: number): string {
  const logNames = TAILED_LOGS.map((log) => quote(`projects/${query.projectId}/logs/${log}`)).join(" OR ");
  const clauses = [
    `resource.type="cloud_run_revision"`,
    `resource.labels.service_name=${quote(query.serviceName)}`,
    ...(query.location ? [`resource.labels.location=${quote(query.location)}`] : []),
    `logName=(${logNames})`,
    `labels.instanceId:*`,
    `timestamp>=${quote(new Date(fromMs).toISOString())}`,
  ];
  // Separate lines are joined with AND in the query language.
  return clauses.join("\n");
}

/** The instance that wrote an entry, from its `instanceId` label, if it has one. */
export function instanceIdOf(entry: TailEntry): string | undefined {
  const id = entry.labels?.instanceId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** The entry's timestamp in epoch milliseconds, or undefined if it has none that can be read. */
export function entryTimeMs(entry: TailEntry): number | undefined {
  const { timestamp } = entry;
  let ms: number;
  if (timestamp instanceof Date) ms = timestamp.getTime();
  else if (typeof timestamp === "string") ms = Date.parse(timestamp);
  else if (timestamp && typeof timestamp === "object") ms = Number(timestamp.seconds ?? 0) * 1000 + Number(timestamp.nanos ?? 0) / 1e6;
  else return undefined;
  return Number.isFinite(ms) ? ms : undefined;
}

/** The stream a Cloud Run log name stands for, whether its log ID is URL-encoded or not. */
export function streamOf(logName: string | null | undefined): LogLine["stream"] {
  if (!logName) return undefined;
  if (/run\.googleapis\.com(%2F|\/)stdout$/i.test(logName)) return "stdout";
  if (/run\.googleapis\.com(%2F|\/)stderr$/i.test(logName)) return "stderr";
  return undefined;
}

/** The line an entry stands for; `timeMs` is its already-read timestamp. */
export function entryToLine(entry: TailEntry, timeMs: number): LogLine {
  const line: LogLine = { text: payloadText(entry), time: new Date(timeMs) };
  const stream = streamOf(entry.logName);
  if (stream) line.stream = stream;
  return line;
}

function payloadText(entry: TailEntry): string {
  if (typeof entry.textPayload === "string") return entry.textPayload;
  if (entry.jsonPayload && typeof entry.jsonPayload === "object") {
    const { message } = entry.jsonPayload;
    return typeof message === "string" ? message : JSON.stringify(entry.jsonPayload);
  }
  if (entry.protoPayload != null) return JSON.stringify(entry.protoPayload);
  return "";
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}
