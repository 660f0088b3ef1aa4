/**
 * @module
 * Google's error model: the canonical codes of `google/rpc/code.proto` with their numbers and HTTP
 * statuses, the JSON error body (`{"error": {code, message, status, details?}}`) a REST reply carries,
 * and the `google.rpc.Status` an Operation carries when it fails. Every failure the emulator reports is
 * an {@link ApiError}.
 */

/** Canonical codes: the number in `google.rpc.Status.code` and the HTTP status code.proto maps it to. */
export const CANONICAL_CODES = {
  CANCELLED: { number: 1, http: 499 },
  UNKNOWN: { number: 2, http: 500 },
  INVALID_ARGUMENT: { number: 3, http: 400 },
  DEADLINE_EXCEEDED: { number: 4, http: 504 },
  NOT_FOUND: { number: 5, http: 404 },
  ALREADY_EXISTS: { number: 6, http: 409 },
  PERMISSION_DENIED: { number: 7, http: 403 },
  RESOURCE_EXHAUSTED: { number: 8, http: 429 },
  FAILED_PRECONDITION: { number: 9, http: 400 },
  ABORTED: { number: 10, http: 409 },
  OUT_OF_RANGE: { number: 11, http: 400 },
  UNIMPLEMENTED: { number: 12, http: 501 },
  INTERNAL: { number: 13, http: 500 },
  UNAVAILABLE: { number: 14, http: 503 },
  DATA_LOSS: { number: 15, http: 500 },
  UNAUTHENTICATED: { number: 16, http: 401 },
} as const;

/** A canonical code name. */
export type CanonicalCode = keyof typeof CANONICAL_CODES;

/** One problem with one request field, as `google.rpc.BadRequest.FieldViolation` describes it. */
export interface FieldViolation {
  /** Path of the field in the request, e.g. `service.template.containers[0].image`. */
  field: string;
  description: string;
}

/** The JSON body of an error reply. */
export interface ErrorBody {
  error: { code: number; message: string; status: CanonicalCode; details?: Record<string, unknown>[] };
}

/** A `google.rpc.Status`, as a failed Operation's `error`. */
export interface RpcStatus {
  code: number;
  message: string;
  details?: Record<string, unknown>[];
}

const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

/** A failure to report in Google's error format. */
export class ApiError extends Error {
  constructor(
    readonly code: CanonicalCode,
    message: string,
    /** `google.rpc` detail messages, each with an `@type`. */
    readonly details: Record<string, unknown>[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The HTTP status of the reply. */
  get httpStatus(): number {
    return CANONICAL_CODES[this.code].http;
  }

  /** The REST reply body. */
  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.httpStatus, message: this.message, status: this.code };
    if (this.details.length > 0) error.details = this.details;
    return { error };
  }

  /** The `google.rpc.Status` form, for a failed Operation. */
  toStatus(): RpcStatus {
    const status: RpcStatus = { code: CANONICAL_CODES[this.code].number, message: this.message };
    if (this.details.length > 0) status.details = this.details;
    return status;
  }
}

/** A 400 INVALID_ARGUMENT listing every violation; the message is the first one's description. */
export function invalidArgument(violations: FieldViolation[]): ApiError {
  const [first] = violations;
  return new ApiError("INVALID_ARGUMENT", first?.description ?? "Invalid argument.", [
    { "@type": BAD_REQUEST_TYPE, fieldViolations: violations },
  ]);
}

/** A 400 INVALID_ARGUMENT for one field. */
export function invalidField(field: string, description: string): ApiError {
  return invalidArgument([{ field, description }]);
}

/** A 404 NOT_FOUND for a resource name. */
export function notFound(resourceName: string): ApiError {
  return new ApiError("NOT_FOUND", `Resource '${resourceName}' was not found`);
}
