/**
 * @module
 * What the service deployer makes of the Admin API's failures: a call's gRPC status becomes a typed
 * BigmachineError (permission denied is `unauthorized`, a conflicting write is a temporary
 * `precondition`, …), and a failed revision's condition gives the reason it failed
 * (`CONTAINER_MISSING`, `HEALTH_CHECK_CONTAINER_ERROR`, …). It also words the refusal of a service
 * bigmachine did not deploy and may not change, with the gcloud command that makes it fit.
 */
import { protos } from "@google-cloud/run";
import { errorOf, type BigmachineError, type ErrorKind, type Severity } from "../../core.ts";
import { DEPLOYMENT_KEY_ENV } from "./attach-protocol.ts";
import type { SettingDifference } from "./service-settings.ts";
import { enumName, MANAGED_LABEL, MIN_DEPLOYMENT_KEY_LENGTH } from "./service-spec.ts";

/** The canonical status names, indexed by gRPC code. */
const STATUS_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/** A canonical status name, e.g. `NOT_FOUND`. */
export type StatusName = (typeof STATUS_NAMES)[number];

/** HTTP statuses as Google's REST APIs use them (409 is ABORTED or ALREADY_EXISTS; the body tells). */
const STATUS_OF_HTTP: Record<number, StatusName> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

const KIND_OF_STATUS: Partial<Record<StatusName, [ErrorKind, Severity]>> = {
  INVALID_ARGUMENT: ["invalid", "fatal"],
  OUT_OF_RANGE: ["invalid", "fatal"],
  DEADLINE_EXCEEDED: ["timeout", "temporary"],
  NOT_FOUND: ["not-exist", "fatal"],
  ALREADY_EXISTS: ["precondition", "retriable"],
  PERMISSION_DENIED: ["unauthorized", "fatal"],
  UNAUTHENTICATED: ["unauthorized", "fatal"],
  RESOURCE_EXHAUSTED: ["unavailable", "temporary"],
  FAILED_PRECONDITION: ["precondition", "fatal"],
  // A concurrent writer changed the resource (a stale etag): read again and retry.
  ABORTED: ["precondition", "retriable"],
  UNAVAILABLE: ["unavailable", "temporary"],
  UNIMPLEMENTED: ["not-supported", "fatal"],
};

/**
 * The canonical status of an Admin API client failure: a status name in the error or its JSON body
 * (what Google's REST answers carry), else its gRPC `code`, else its HTTP status.
 */
export function statusOf(err: unknown): StatusName | undefined {
  if (err === null || typeof err !== "object") return undefined;
  const { code, status, message } = err as { code?: unknown; status?: unknown; message?: unknown };
  const named = [status, bodyStatus(message)].find((v): v is StatusName => typeof v === "string" && (STATUS_NAMES as readonly string[]).includes(v));
  if (named) return named;
  const http = "response" in err || (typeof status === "number" && status >= 400);
  for (const value of [code, status]) {
    if (typeof value !== "number" || !Number.isInteger(value)) continue;
    if (!http && value >= 0 && value < STATUS_NAMES.length) return STATUS_NAMES[value];
    if (value >= 400) return STATUS_OF_HTTP[value] ?? (value >= 500 ? "UNAVAILABLE" : "INVALID_ARGUMENT");
  }
  return undefined;
}

/** The `status` named in an error message that is a Google JSON error body, if any. */
function bodyStatus(message: unknown): string | undefined {
  if (typeof message !== "string" || !message.trimStart().startsWith("{")) return undefined;
  try {
    const body = JSON.parse(message) as { status?: unknown; error?: { status?: unknown } };
    const status = body.status ?? body.error?.status;
    return typeof status === "string" ? status : undefined;
  } catch {
    return undefined;
  }
}

/** A typed error for the failure of Admin API call `what` (e.g. "update service projects/…"). */
export function adminApiError(what: string, err: unknown): BigmachineError {
  const status = statusOf(err);
  const [kind, severity] = (status && KIND_OF_STATUS[status]) || ["remote", "unknown"];
  const hint = kind === "unauthorized" ? " (the caller needs Cloud Run Admin rights on the project, e.g. roles/run.developer)" : "";
  return errorOf(kind, `cloud run: could not ${what} (${status ?? "no status"}): ${detailOf(err)}${hint}`, { severity, cause: err });
}

/** The human part of a failure: the `message` of a JSON error body, else the error's message. */
function detailOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!message.trimStart().startsWith("{")) return message;
  try {
    const body = JSON.parse(message) as { message?: unknown; error?: { message?: unknown } };
    const text = body.message ?? body.error?.message;
    return typeof text === "string" ? text : message;
  } catch {
    return message;
  }
}

type Condition = protos.google.cloud.run.v2.ICondition;

/**
 * The reason a condition failed, e.g. `CONTAINER_MISSING` or `HEALTH_CHECK_CONTAINER_ERROR` (from
 * whichever reason field is set), or undefined when it did not fail.
 */
export function failedConditionReason(condition: Condition | null | undefined): string | undefined {
  if (!condition) return undefined;
  const { Condition } = protos.google.cloud.run.v2;
  if (enumName(Condition.State, condition.state) !== "CONDITION_FAILED") return undefined;
  const reason =
    named(Condition.RevisionReason, condition.revisionReason) ??
    named(Condition.CommonReason, condition.reason) ??
    named(Condition.ExecutionReason, condition.executionReason);
  return reason ?? "UNKNOWN";
}

function named(values: Record<string, string | number>, value: unknown): string | undefined {
  const name = enumName(values, value);
  return name && !name.endsWith("_UNDEFINED") && name !== "UNDEFINED" ? name : undefined;
}

/**
 * A shell fragment that makes a fresh deployment key (32 random bytes, base64url) where it is pasted,
 * so that no key is ever printed.
 */
export const NEW_DEPLOYMENT_KEY_SHELL = `"$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')"`;

/** What a refused unmanaged service lacks. */
export interface UnmanagedServiceMismatch {
  /** The service's full resource name, `projects/P/locations/R/services/S`. */
  name: string;
  /** The settings it lacks (`settingDifferences`). */
  differences: SettingDifference[];
  /** What is wrong with its deployment key (`deploymentKeyProblem`), if anything. */
  keyProblem?: string;
}

/**
 * The `gcloud run services update SERVICE --region R --project P ...` line that gives the service what
 * it lacks, ready to paste into a POSIX shell.
 */
export function gcloudUpdateCommand(mismatch: UnmanagedServiceMismatch): string {
  const { project, region, service } = partsOf(mismatch.name);
  const words = ["gcloud", "run", "services", "update", service, "--region", region, "--project", project, ...mismatch.differences.map((d) => d.argument)];
  const line = words.map(shellWord).join(" ");
  return mismatch.keyProblem ? `${line} --update-env-vars=${DEPLOYMENT_KEY_ENV}=${NEW_DEPLOYMENT_KEY_SHELL}` : line;
}

/**
 * The refusal of a service bigmachine did not deploy (no {@link MANAGED_LABEL}) whose settings do not
 * serve the driver: one fatal `precondition` error naming each wrong setting, its value, the wanted
 * value and its flag, and one gcloud command that fixes them all. bigmachine never changes such a
 * service itself: whoever deployed it owns it.
 */
export function unmanagedServiceError(mismatch: UnmanagedServiceMismatch): BigmachineError {
  const { project, region, service } = partsOf(mismatch.name);
  const lines = mismatch.differences.map((d) => `  - ${d.what}: ${d.actual}, wanted ${d.wanted} (${d.flag})`);
  if (mismatch.keyProblem) {
    lines.push(`  - deployment key (${DEPLOYMENT_KEY_ENV} in the container's environment): ${mismatch.keyProblem}, wanted a random key of at least ${MIN_DEPLOYMENT_KEY_LENGTH} characters (--update-env-vars)`);
  }
  return errorOf(
    "precondition",
    `cloud run service ${service} (project ${project}, region ${region}) was not deployed by bigmachine ` +
      `(it has no ${MANAGED_LABEL.key}=${MANAGED_LABEL.value} label), so bigmachine uses it as it is and never changes it, ` +
      `but it does not serve this driver:\n${lines.join("\n")}\n` +
      `Fix it with:\n  ${gcloudUpdateCommand(mismatch)}\n` +
      `or delete it (bigmachine down) and let bigmachine create one of its own.`,
    { severity: "fatal" },
  );
}

/** Project, region and service id of a full service name. */
function partsOf(name: string): { project: string; region: string; service: string } {
  const match = /^projects\/([^/]+)\/locations\/([^/]+)\/services\/([^/]+)$/.exec(name);
  if (!match) throw errorOf("invalid", `not a Cloud Run service name: ${JSON.stringify(name)}`, { severity: "fatal" });
  return { project: match[1]!, region: match[2]!, service: match[3]! };
}

/** `text` as one POSIX shell word: as it is when that is safe, else single-quoted. */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
