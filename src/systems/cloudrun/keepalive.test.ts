import { describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import { cloudRunTimings, MAX_REQUEST_TIMEOUT_MS, MIN_REQUEST_TIMEOUT_MS } from "./keepalive.ts";
import { thrown } from "../../../test/helpers.ts";

describe("cloudRunTimings", () => {
  it("derives every timing from Cloud Run's default request timeout", () => {
    expect(cloudRunTimings()).toEqual({ keepalive: { timeoutMs: 60_000, periodMs: 12_000, rpcTimeoutMs: 30_000 }, tunnelRotateAfterMs: 270_000 });
  });

  it("rotates tunnels within 15 minutes however long the request timeout", () => {
    const longest = cloudRunTimings(MAX_REQUEST_TIMEOUT_MS);
    expect(longest.tunnelRotateAfterMs).toBe(810_000);
    expect(longest.keepalive.timeoutMs).toBe(60_000);
  });

  it("shrinks the keepalive timeout to a quarter of a short request timeout", () => {
    const shortest = cloudRunTimings(MIN_REQUEST_TIMEOUT_MS);
    expect(shortest).toEqual({ keepalive: { timeoutMs: 15_000, periodMs: 3_000, rpcTimeoutMs: 7_500 }, tunnelRotateAfterMs: 30_000 });
  });

  it("keeps every timing inside the tunnel's lifetime, for every allowed request timeout", () => {
    for (let t = MIN_REQUEST_TIMEOUT_MS; t <= MAX_REQUEST_TIMEOUT_MS; t += 30_000) {
      const { keepalive, tunnelRotateAfterMs } = cloudRunTimings(t);
      expect(keepalive.periodMs).toBeLessThan(keepalive.timeoutMs);
      expect(keepalive.rpcTimeoutMs).toBeLessThanOrEqual(keepalive.timeoutMs);
      expect(keepalive.timeoutMs).toBeLessThan(tunnelRotateAfterMs);
      expect(tunnelRotateAfterMs).toBeLessThan(Math.min(t, 15 * 60_000));
    }
  });

  it("lets overrides shorten the timings, and derives the rest from an overridden timeout", () => {
    expect(cloudRunTimings(300_000, { timeoutMs: 2_000 }).keepalive).toEqual({ timeoutMs: 2_000, periodMs: 400, rpcTimeoutMs: 1_000 });
    expect(cloudRunTimings(300_000, { periodMs: 100, rpcTimeoutMs: 50, timeoutMs: 500 }).keepalive).toEqual({ timeoutMs: 500, periodMs: 100, rpcTimeoutMs: 50 });
  });

  it("refuses request timeouts outside Cloud Run's range and timings that do not fit", () => {
    for (const bad of [59_999, 3_600_001, Number.NaN]) expect(isKind(thrown(() => cloudRunTimings(bad)), "invalid")).toBe(true);
    expect(String(thrown(() => cloudRunTimings(300_000, { periodMs: 60_000 })))).toMatch(/periodMs .* shorter than timeoutMs/);
    expect(String(thrown(() => cloudRunTimings(300_000, { rpcTimeoutMs: 61_000 })))).toMatch(/rpcTimeoutMs .* must not exceed/);
    expect(String(thrown(() => cloudRunTimings(300_000, { timeoutMs: 280_000 })))).toMatch(/tunnel's lifetime/);
    expect(isKind(thrown(() => cloudRunTimings(300_000, { timeoutMs: -1 })), "invalid")).toBe(true);
  });
});
