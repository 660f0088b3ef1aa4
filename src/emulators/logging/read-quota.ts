/**
 * @module
 * The `entries.list` read quota: at most N requests per project in any sliding 60-second window
 * (Google's limit is 60 and cannot be raised). Requests refused for quota do not count against it.
 */
import { ApiError } from "./api-error.ts";

/** The quota window. */
export const READ_QUOTA_WINDOW_MS = 60_000;

/** Counts `entries:list` calls per project against a per-minute limit. */
export class ReadQuota {
  readonly #calls = new Map<string, number[]>();

  constructor(
    /** Requests allowed per project per minute; changeable at run time. */
    public perMinute: number,
    private readonly now: () => number,
  ) {}

  /**
   * Records one call for `project`, or throws a 429 RESOURCE_EXHAUSTED {@link ApiError} (in Google's
   * shape, with an `ErrorInfo` detail) if the project has used its quota for the current window.
   */
  charge(project: string): void {
    const nowMs = this.now();
    const recent = (this.#calls.get(project) ?? []).filter((at) => nowMs - at < READ_QUOTA_WINDOW_MS);
    if (recent.length >= this.perMinute) {
      this.#calls.set(project, recent);
      throw quotaExceeded(project, this.perMinute);
    }
    recent.push(nowMs);
    this.#calls.set(project, recent);
  }

  /** Forgets every recorded call. */
  reset(): void {
    this.#calls.clear();
  }
}

function quotaExceeded(project: string, limit: number): ApiError {
  return new ApiError(
    "RESOURCE_EXHAUSTED",
    `Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service ` +
      `'logging.googleapis.com' for consumer '${project}' (limit ${limit}).`,
    [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "RATE_LIMIT_EXCEEDED",
        domain: "googleapis.com",
        metadata: {
          service: "logging.googleapis.com",
          consumer: project,
          quota_metric: "logging.googleapis.com/read_requests",
          quota_limit: "ReadRequestsPerMinutePerProject",
          quota_limit_value: String(limit),
        },
      },
    ],
  );
}
