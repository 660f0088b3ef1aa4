/**
 * @module
 * Which `entries:list` failures a tail retries and which end it.
 *
 * A failure is read as a canonical status: from a gRPC `code` (what the official client's errors
 * carry, over the REST transport too), from an HTTP `status` or `code` of 400 and above, or from a
 * status name such as `RESOURCE_EXHAUSTED`. A failure with no status (a dropped connection, a
 * timeout, a code such as `ECONNRESET`) is transient.
 *
 * - Permanent, ending the tail: INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED,
 *   UNIMPLEMENTED, FAILED_PRECONDITION, OUT_OF_RANGE. Asking again the same way cannot succeed.
 * - Everything else is transient and retried after a backoff: RESOURCE_EXHAUSTED (the read quota of
 *   60 requests a minute per project), UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ABORTED, UNKNOWN.
 */
import { type BigmachineError, type ErrorKind, errorOf } from "../../core.ts";

/** The canonical status names, indexed by gRPC code. */
const STATUS_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

type StatusName = (typeof STATUS_NAMES)[number];

const STATUS_OF_HTTP: Record<number, StatusName> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  501: "UNIMPLEMENTED",
  504: "DEADLINE_EXCEEDED",
};

/** Permanent statuses and the error kind each ends a tail with. */
const PERMANENT: Partial<Record<StatusName, ErrorKind>> = {
  INVALID_ARGUMENT: "invalid",
  OUT_OF_RANGE: "invalid",
  NOT_FOUND: "not-exist",
  PERMISSION_DENIED: "unauthorized",
  UNAUTHENTICATED: "unauthorized",
  UNIMPLEMENTED: "not-supported",
  FAILED_PRECONDITION: "precondition",
};

/** A failed `entries:list` call, read. */
export interface ListFailure {
  /** Whether asking again cannot succeed. */
  permanent: boolean;
  /** Whether the read quota refused the call. */
  quota: boolean;
  /** The canonical status, when the failure named one. */
  status?: StatusName;
  /** The typed error: fatal for permanent failures, temporary otherwise, the original as `cause`. */
  error: BigmachineError;
}

/** Reads a rejection of a `ListEntries` call; `context` starts the error's message. */
export function classifyListFailure(err: unknown, context: string): ListFailure {
  const status = statusOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  const permanentKind = status ? PERMANENT[status] : undefined;
  if (permanentKind) {
    const error = errorOf(permanentKind, `${context}: Cloud Logging refused entries:list (${status}): ${detail}`, {
      severity: "fatal",
      cause: err,
    });
    return { permanent: true, quota: false, status, error };
  }
  const quota = status === "RESOURCE_EXHAUSTED";
  const what = quota ? "the read quota is used up" : status ? `entries:list failed (${status})` : "entries:list failed";
  const error = errorOf(status ? "unavailable" : "net", `${context}: ${what}: ${detail}`, { severity: "temporary", cause: err });
  return { permanent: false, quota, status, error };
}

function statusOf(err: unknown): StatusName | undefined {
  if (err === null || typeof err !== "object") return undefined;
  const { code, status } = err as { code?: unknown; status?: unknown };
  for (const value of [code, status]) {
    if (typeof value === "number" && Number.isInteger(value)) {
      if (value >= 0 && value < STATUS_NAMES.length) return STATUS_NAMES[value];
      if (value >= 400) return STATUS_OF_HTTP[value] ?? (value >= 500 ? "UNAVAILABLE" : "INVALID_ARGUMENT");
    }
    if (typeof value === "string" && (STATUS_NAMES as readonly string[]).includes(value)) return value as StatusName;
  }
  return undefined;
}
