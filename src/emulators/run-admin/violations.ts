/**
 * @module
 * Collects the problems found while checking one request, so the caller gets all of them at once in a
 * single INVALID_ARGUMENT (`google.rpc.BadRequest` field violations), as Google's validation reports.
 */
import { invalidArgument, type FieldViolation } from "./api-error.ts";

/** Problems found so far in one request. */
export class Violations {
  readonly #found: FieldViolation[] = [];

  /** @param requestType The request message's short name, e.g. `CreateServiceRequest`, for messages. */
  constructor(readonly requestType: string) {}

  /** Records a problem with the field at `field` (e.g. `service.template.timeout`). */
  add(field: string, description: string): void {
    this.#found.push({ field, description });
  }

  /** Records a required field that is missing, in Google's words. */
  required(field: string): void {
    this.add(field, `Violation in ${this.requestType}.${field}: required field not present.`);
  }

  /** Throws an INVALID_ARGUMENT {@link ApiError} if anything was recorded. */
  throwIfAny(): void {
    if (this.#found.length > 0) throw invalidArgument(this.#found);
  }
}
