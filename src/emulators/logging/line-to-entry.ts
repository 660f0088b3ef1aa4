/**
 * @module
 * How Cloud Run's logging agent turns one line of container output into a `LogEntry`.
 *
 * - A line that is one JSON object becomes `jsonPayload`, minus the special keys the agent lifts into
 *   the entry: `severity`, `logging.googleapis.com/labels` (merged into `labels`),
 *   `logging.googleapis.com/trace`, `.../spanId`, `.../trace_sampled`, `.../insertId`,
 *   `.../sourceLocation`, `.../operation`, `httpRequest`, and the time (`time` or `timestamp` as
 *   RFC 3339, `timestamp` as `{seconds, nanos}`, or `timestampSeconds` + `timestampNanos`). `message`
 *   stays in the payload. A special key whose value has the wrong form stays in the payload too.
 * - Anything else, including JSON that is not an object or a line with a prefix, becomes `textPayload`.
 * - Plain output carries no severity (DEFAULT) on stdout and stderr alike: Google documents that lines
 *   written to stdout or stderr have no associated log level.
 * - The log is `run.googleapis.com/stdout` or `.../stderr`, the resource `cloud_run_revision`, and the
 *   `instanceId` label names the instance.
 */
import type { LogEntry } from "../contracts.ts";
import { preciseTimestamp } from "./precise-clock.ts";
import { severityFromAgent } from "./severity.ts";
import { formatTimestampKey, parseTimestamp, timestampKeyFromParts } from "./timestamp.ts";

/** Where a line of output came from. */
export interface LineSource {
  projectId: string;
  stream: "stdout" | "stderr";
  /** `cloud_run_revision` labels: project_id, service_name, revision_name, configuration_name, location. */
  resourceLabels: Record<string, string>;
  instanceId: string;
  /** When the line was written (a Date, or RFC 3339 text to keep sub-millisecond digits); now by default. */
  timestamp?: Date | string;
}

const SPECIAL = "logging.googleapis.com/";

type Json = Record<string, unknown>;
type Lifter = (value: unknown, entry: LogEntry) => boolean;

// Each lifter moves its key's value into the entry and says whether it did; false leaves it in place.
const LIFTERS: Record<string, Lifter> = {
  severity: (value, entry) => set(entry, "severity", severityFromAgent(value)),
  [`${SPECIAL}labels`]: (value, entry) => {
    if (!isObject(value) || !Object.values(value).every((v) => typeof v === "string")) return false;
    entry.labels = { ...(value as Record<string, string>), ...entry.labels };
    return true;
  },
  [`${SPECIAL}trace`]: (value, entry) => set(entry, "trace", typeof value === "string" ? value : undefined),
  [`${SPECIAL}spanId`]: (value, entry) => set(entry, "spanId", typeof value === "string" ? value : undefined),
  [`${SPECIAL}trace_sampled`]: (value, entry) =>
    set(entry, "traceSampled", typeof value === "boolean" ? value : undefined),
  [`${SPECIAL}insertId`]: (value, entry) => set(entry, "insertId", typeof value === "string" ? value : undefined),
  [`${SPECIAL}sourceLocation`]: (value, entry) => set(entry, "sourceLocation", isObject(value) ? value : undefined),
  [`${SPECIAL}operation`]: (value, entry) => set(entry, "operation", isObject(value) ? value : undefined),
  httpRequest: (value, entry) => set(entry, "httpRequest", isObject(value) ? value : undefined),
};

/** Turns one line (without its newline) into the entry Cloud Run's agent would write. */
export function lineToEntry(line: string, source: LineSource): LogEntry {
  const entry: LogEntry = {
    logName: `projects/${source.projectId}/logs/run.googleapis.com%2F${source.stream}`,
    resource: { type: "cloud_run_revision", labels: { ...source.resourceLabels } },
    timestamp: timestampOf(source.timestamp),
    labels: { instanceId: source.instanceId },
  };
  const json = parseJsonObject(line);
  if (!json) {
    entry.textPayload = line;
    return entry;
  }
  const payload: Json = { ...json };
  for (const [key, lift] of Object.entries(LIFTERS)) {
    if (Object.hasOwn(payload, key) && lift(payload[key], entry)) delete payload[key];
  }
  liftTime(payload, entry);
  entry.jsonPayload = payload;
  return entry;
}

function timestampOf(timestamp: Date | string | undefined): string {
  if (timestamp === undefined) return preciseTimestamp();
  return typeof timestamp === "string" ? timestamp : timestamp.toISOString();
}

function liftTime(payload: Json, entry: LogEntry): void {
  const { time, timestamp, timestampSeconds, timestampNanos } = payload;
  // Each candidate: the keys it occupies and the time it names, if well formed.
  const candidates: [string[], string | undefined][] = [
    [["timestamp"], typeof timestamp === "string" ? parseTimestamp(timestamp)?.key : partsKey(timestamp)],
    [["time"], typeof time === "string" ? parseTimestamp(time)?.key : undefined],
    [
      ["timestampSeconds", "timestampNanos"],
      timestampSeconds === undefined ? undefined : partsKey({ seconds: timestampSeconds, nanos: timestampNanos }),
    ],
  ];
  for (const [keys, timeKey] of candidates) {
    if (timeKey === undefined) continue;
    entry.timestamp = formatTimestampKey(timeKey);
    for (const key of keys) delete payload[key];
    return;
  }
}

/** The time of a `{seconds, nanos}` object (numbers or decimal strings), if well formed. */
function partsKey(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  return timestampKeyFromParts(Number(value.seconds ?? 0), Number(value.nanos ?? 0));
}

function parseJsonObject(line: string): Json | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function set(entry: LogEntry, field: string, value: unknown): boolean {
  if (value === undefined) return false;
  entry[field] = value;
  return true;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
