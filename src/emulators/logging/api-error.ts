/**
 * @module
 * Google's JSON error format, `{"error": {"code", "message", "status", "details"?}}`, where `code` is the
 * HTTP status and `status` the canonical RPC code name. Every failure the emulator reports goes through
 * {@link ApiError}, so clients see exactly what Google's REST front end would send.
 */

/** The canonical codes the emulator uses, with their HTTP statuses. */
const HTTP_STATUS_BY_CODE = {
  INVALID_ARGUMENT: 400,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNIMPLEMENTED: 501,
} as const;

/** A canonical RPC status name the emulator can answer with. */
export type ApiErrorStatus = keyof typeof HTTP_STATUS_BY_CODE;

/** The JSON body of an error reply. */
export interface ApiErrorBody {
  error: { code: number; message: string; status: ApiErrorStatus; details?: Record<string, unknown>[] };
}

/** A failure to report to the client in Google's error format. */
export class ApiError extends Error {
  constructor(
    readonly status: ApiErrorStatus,
    message: string,
    /** `google.rpc` detail messages, each with an `@type`. */
    readonly details?: Record<string, unknown>[],
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The HTTP status of the reply. */
  get httpStatus(): (typeof HTTP_STATUS_BY_CODE)[ApiErrorStatus] {
    return HTTP_STATUS_BY_CODE[this.status];
  }

  /** The reply body. */
  toBody(): ApiErrorBody {
    const error: ApiErrorBody["error"] = { code: this.httpStatus, message: this.message, status: this.status };
    if (this.details?.length) error.details = this.details;
    return { error };
  }
}

/** Shorthand for the most common failure: a 400 INVALID_ARGUMENT. */
export function invalidArgument(message: string, details?: Record<string, unknown>[]): ApiError {
  return new ApiError("INVALID_ARGUMENT", message, details);
}
