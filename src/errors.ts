/**
 * @module
 * The one error type of bigmachine: every failure carries a kind (what went wrong) and a severity (what
 * a caller may do about it). Retry decisions look at the severity only, never at message text.
 *
 * The network rule, inherited from Go bigmachine: an error of kind `net` always originates from the
 * immediate call. Anything that went wrong on the far side, including the far side's own network
 * trouble, reaches the caller as kind `remote`, with the far side's error as its `cause`.
 */

/** What went wrong. */
export type ErrorKind =
  | "net" // the transport to the machine failed (connection refused, dropped tunnel, injected fault)
  | "unavailable" // the machine or service is not (yet, or any longer) available
  | "invalid" // bad input: malformed or oversized payloads, bad arguments
  | "timeout" // a deadline passed
  | "canceled" // the caller canceled
  | "not-exist" // unknown service, method, machine or file
  | "not-supported" // the system or service does not offer this
  | "precondition" // the operation is not allowed in the current state (e.g. machine stopped)
  | "unauthorized" // wrong or missing credentials
  | "oom" // the machine ran out of memory
  | "remote" // the far side returned an error; see `cause`
  | "other";

/** What a caller may do about it, from most to least hopeful. */
export type Severity =
  | "retriable" // retrying right away is safe and likely to succeed
  | "temporary" // retrying after a backoff is likely to succeed
  | "unknown" // nothing is known either way
  | "fatal"; // retrying will not help

const ERROR_KINDS: ReadonlySet<string> = new Set<ErrorKind>([
  "net", "unavailable", "invalid", "timeout", "canceled", "not-exist", "not-supported",
  "precondition", "unauthorized", "oom", "remote", "other",
]);
const SEVERITIES: ReadonlySet<string> = new Set<Severity>(["retriable", "temporary", "unknown", "fatal"]);

/** Options for {@link BigmachineError}. */
export interface BigmachineErrorOptions {
  kind: ErrorKind;
  /** Defaults to `temporary` for `net`, `unavailable` and `timeout`, `unknown` otherwise. */
  severity?: Severity;
  cause?: unknown;
}

function defaultSeverity(kind: ErrorKind): Severity {
  return kind === "net" || kind === "unavailable" || kind === "timeout" ? "temporary" : "unknown";
}

/** A failure with a kind and a severity; the only error type bigmachine throws. */
export class BigmachineError extends Error {
  readonly kind: ErrorKind;
  readonly severity: Severity;

  constructor(message: string, options: BigmachineErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BigmachineError";
    this.kind = options.kind;
    this.severity = options.severity ?? defaultSeverity(options.kind);
  }

  /** Whether retrying (with a backoff) may succeed. */
  get temporary(): boolean {
    return this.severity === "temporary" || this.severity === "retriable";
  }
}

/** Shorthand for `new BigmachineError(message, { kind, severity, cause })`. */
export function errorOf(kind: ErrorKind, message: string, options: Omit<BigmachineErrorOptions, "kind"> = {}): BigmachineError {
  return new BigmachineError(message, { kind, ...options });
}

/**
 * Whether `err` is of `kind`, by the rule of Go bigmachine's `errors.Is`: what counts is the first kind
 * along the `cause` chain that says what went wrong.
 *
 * - Kind `other`, and any error that is not a BigmachineError, says nothing: the walk goes on to its cause.
 * - Kind `remote` says where the error happened: the walk goes on to the far side's error, so
 *   `isKind(err, "not-exist")` finds a missing file on the machine. Except for kind `net`, which only
 *   ever describes the immediate call: the far side's own network trouble is never `net` here.
 * - Any other kind ends the walk: `unavailable` caused by a `net` error is not `net`.
 */
export function isKind(err: unknown, kind: ErrorKind): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 32; e = e.cause, depth++) {
    if (!(e instanceof BigmachineError)) continue;
    if (e.kind === kind) return true;
    if (e.kind === "other" || (e.kind === "remote" && kind !== "net")) continue;
    return false;
  }
  return false;
}

/** Whether `err` is a BigmachineError whose own severity says a retry may succeed. */
export function isTemporary(err: unknown): boolean {
  return err instanceof BigmachineError && err.temporary;
}

/** Whether `err` is a BigmachineError marked fatal: retry loops stop on it. */
export function isFatal(err: unknown): boolean {
  return err instanceof BigmachineError && err.severity === "fatal";
}

/**
 * Normalizes anything thrown into a BigmachineError. BigmachineErrors pass through; other Errors become
 * kind `other` (or `canceled`/`timeout` for abort and timeout errors) with the original as `cause`.
 */
export function toBigmachineError(err: unknown): BigmachineError {
  if (err instanceof BigmachineError) return err;
  if (err instanceof Error) {
    if (err.name === "AbortError") return errorOf("canceled", err.message || "canceled", { cause: err });
    if (err.name === "TimeoutError") return errorOf("timeout", err.message || "timed out", { cause: err });
    return errorOf("other", err.message, { cause: err });
  }
  return errorOf("other", typeof err === "string" ? err : `non-error thrown: ${String(err)}`);
}

/** The plain-object form an error takes on the wire. */
export interface WireError {
  kind: ErrorKind;
  severity: Severity;
  message: string;
  /** The original error's class name, e.g. `TypeError`, for messages. */
  name?: string;
  /** The far side's stack, only when the caller's session asked for stacks. */
  stack?: string;
  cause?: WireError;
}

/** Options for {@link errorToWire}. */
export interface WireErrorOptions {
  /**
   * Whether to include stack traces. Default false: a stack shows the far side's code and paths to
   * whoever reads the error, and a driver may show errors to its own users.
   */
  stacks?: boolean;
}

/** Encodes an error (and up to a few levels of its causes) for the wire; stacks only when asked. */
export function errorToWire(err: unknown, options: WireErrorOptions = {}): WireError {
  return wireErrorOf(err, options.stacks === true, 0);
}

function wireErrorOf(err: unknown, stacks: boolean, depth: number): WireError {
  const e = toBigmachineError(err);
  const original = err instanceof Error && !(err instanceof BigmachineError) ? err : undefined;
  const cause = e.cause instanceof BigmachineError && depth < 4 ? wireErrorOf(e.cause, stacks, depth + 1) : undefined;
  const name = original?.name ?? (e.cause instanceof Error ? e.cause.name : undefined);
  const stack = stacks ? (original?.stack ?? e.stack) : undefined;
  return {
    kind: e.kind,
    severity: e.severity,
    message: e.message,
    ...(name !== undefined ? { name } : {}),
    ...(stack !== undefined ? { stack } : {}),
    ...(cause ? { cause } : {}),
  };
}

/** Decodes a {@link WireError}; unknown kinds and severities become `other` and `unknown`. */
export function errorFromWire(wire: unknown): BigmachineError {
  const w = (typeof wire === "object" && wire !== null ? wire : {}) as Partial<WireError>;
  const kind = typeof w.kind === "string" && ERROR_KINDS.has(w.kind) ? w.kind : "other";
  const severity = typeof w.severity === "string" && SEVERITIES.has(w.severity) ? w.severity : "unknown";
  const cause = w.cause ? errorFromWire(w.cause) : undefined;
  const err = new BigmachineError(typeof w.message === "string" ? w.message : "unknown error", { kind, severity, cause });
  if (typeof w.stack === "string") err.stack = w.stack;
  return err;
}

/**
 * Wraps an error that arrived from the far side of a call: kind `remote`, the far side's error as `cause`,
 * its severity kept, so `isKind(err, "not-exist")` still finds the original kind (but never `net`: see
 * {@link isKind}).
 */
export function remoteError(wire: unknown, context: string): BigmachineError {
  const cause = errorFromWire(wire);
  return new BigmachineError(`${context}: ${cause.message}`, { kind: "remote", severity: cause.severity, cause });
}

/** HTTP statuses for error kinds, for the HTTP face of the RPC layer and the worker. */
export const HTTP_STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  net: 502,
  unavailable: 503,
  invalid: 400,
  timeout: 504,
  canceled: 499,
  "not-exist": 404,
  "not-supported": 501,
  precondition: 412,
  unauthorized: 401,
  oom: 507,
  remote: 590,
  other: 500,
};
