/**
 * @module
 * The Cloud Run System's keepalive rule: every timing follows from the service's request timeout.
 *
 * A Cloud Run machine is held by its attach tunnel, which is one request to the service, and every call
 * to the machine (keepalives included) rides that tunnel. Cloud Run ends a request at the service's
 * request timeout T (default 300 s, at most 3600 s), and Google warns that above 15 minutes connections
 * may drop sooner. So, with L = min(T, 15 min), the span a tunnel can be counted on:
 *
 * - **Tunnels are rotated before L**: a fresh attach replaces the old one after L − max(30 s, L / 10)
 *   (270 s for the default T of 300 s, 810 s for T = 3600 s). The margin leaves room to open the new
 *   tunnel (a cold connection through Google's front end takes seconds) before the old one is cut.
 * - **Keepalive timeout** = min(60 s, L / 4): how long a machine lives without a keepalive (its watchdog
 *   then ends it, so a crashed driver stops paying for its machines within a minute) and how long the
 *   driver tries to reach it before declaring it lost. A minute rides out a dropped tunnel and its
 *   resume; a quarter of L keeps a keepalive from waiting on a request the front end already ended.
 * - **Period** = timeout / 5 and **rpc timeout** = timeout / 2, as on the local system: about five
 *   keepalives fit in one timeout window, so one or two slow ones never lose a machine, and two
 *   keepalive calls always fit before the machine is declared lost.
 *
 * Request timeouts under {@link MIN_REQUEST_TIMEOUT_MS} are refused: tunnels would be rotated every few
 * seconds, and a resume could not fit inside one.
 */
import { errorOf, type KeepaliveConfig } from "../../core.ts";

/** Cloud Run's default request timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Cloud Run's largest request timeout. */
export const MAX_REQUEST_TIMEOUT_MS = 3_600_000;
/** The shortest request timeout the Cloud Run System accepts. */
export const MIN_REQUEST_TIMEOUT_MS = 60_000;
/** How long a connection through Cloud Run's front end can be counted on, whatever the timeout. */
export const RELIABLE_CONNECTION_MS = 15 * 60_000;

/** Keepalive timings plus when to replace an attach tunnel, all in milliseconds. */
export interface CloudRunTimings {
  keepalive: KeepaliveConfig;
  /** Age at which an attach tunnel is replaced by a fresh one. */
  tunnelRotateAfterMs: number;
}

/**
 * The timings for a service whose request timeout is `requestTimeoutMs`, by the rule in the module doc.
 * Explicit `overrides` win (tests shorten them), but must still fit: period shorter than the timeout,
 * rpc timeout no longer than it, and the timeout inside the tunnel's lifetime. Throws kind `invalid`.
 */
export function cloudRunTimings(requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, overrides: Partial<KeepaliveConfig> = {}): CloudRunTimings {
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs < MIN_REQUEST_TIMEOUT_MS || requestTimeoutMs > MAX_REQUEST_TIMEOUT_MS) {
    throw errorOf(
      "invalid",
      `request timeout must be between ${MIN_REQUEST_TIMEOUT_MS / 1000} s and ${MAX_REQUEST_TIMEOUT_MS / 1000} s, got ${requestTimeoutMs} ms`,
      { severity: "fatal" },
    );
  }
  const span = Math.min(requestTimeoutMs, RELIABLE_CONNECTION_MS);
  const tunnelRotateAfterMs = span - Math.max(30_000, Math.ceil(span / 10));
  const timeoutMs = positive("timeoutMs", overrides.timeoutMs ?? Math.min(60_000, Math.floor(span / 4)));
  const periodMs = positive("periodMs", overrides.periodMs ?? Math.ceil(timeoutMs / 5));
  const rpcTimeoutMs = positive("rpcTimeoutMs", overrides.rpcTimeoutMs ?? Math.ceil(timeoutMs / 2));
  if (periodMs >= timeoutMs) fail(`periodMs (${periodMs}) must be shorter than timeoutMs (${timeoutMs})`);
  if (rpcTimeoutMs > timeoutMs) fail(`rpcTimeoutMs (${rpcTimeoutMs}) must not exceed timeoutMs (${timeoutMs})`);
  if (timeoutMs >= tunnelRotateAfterMs) fail(`timeoutMs (${timeoutMs}) must be shorter than a tunnel's lifetime (${tunnelRotateAfterMs} ms)`);
  return { keepalive: { periodMs, timeoutMs, rpcTimeoutMs }, tunnelRotateAfterMs };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

function fail(message: string): never {
  throw errorOf("invalid", `keepalive ${message}`, { severity: "fatal" });
}
