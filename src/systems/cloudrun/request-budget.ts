/**
 * @module
 * A tail's own limit on `entries:list` calls per sliding minute. Cloud Logging allows 60 a minute per
 * project, shared by every reader of the project; a tail that pages through a burst of output would
 * otherwise spend the project's whole quota. The budget paces requests instead of failing them.
 */

/** The window the budget counts over. */
export const BUDGET_WINDOW_MS = 60_000;

/** Counts requests in a sliding minute and says how long to wait before the next one. */
export class RequestBudget {
  /** Times of the recent requests, oldest first; never more than `perMinute` of them. */
  readonly #times: number[] = [];

  constructor(
    /** Requests allowed in any sliding minute; at least 1. */
    readonly perMinute: number,
    private readonly now: () => number,
  ) {
    if (!(perMinute >= 1)) throw new RangeError(`a request budget needs at least 1 request a minute, got ${perMinute}`);
  }

  /** Milliseconds until a request fits the budget; 0 if one may be made now. */
  waitMs(): number {
    const nowMs = this.now();
    this.#forgetBefore(nowMs - BUDGET_WINDOW_MS);
    if (this.#times.length < this.perMinute) return 0;
    return Math.max(1, this.#times[0] + BUDGET_WINDOW_MS - nowMs);
  }

  /** Records a request made now. */
  spend(): void {
    this.#times.push(this.now());
    if (this.#times.length > this.perMinute) this.#times.shift();
  }

  #forgetBefore(cutoffMs: number): void {
    while (this.#times.length > 0 && this.#times[0] <= cutoffMs) this.#times.shift();
  }
}
