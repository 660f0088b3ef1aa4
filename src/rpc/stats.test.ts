import { describe, expect, it } from "vitest";
import { RESERVOIR_SIZE, StatsTable } from "./stats.ts";

describe("StatsTable", () => {
  it("counts calls, errors and bytes, with latency figures over a bounded sample", () => {
    const table = new StatsTable();
    for (let i = 1; i <= 10 * RESERVOIR_SIZE; i++) table.settled("S.m", i % 10 !== 0, i % 100, 3, 5);
    table.bytes("S.m", 100, 200);
    const stats = table.snapshot()["S.m"];
    expect(stats.count).toBe(10 * RESERVOIR_SIZE);
    expect(stats.errors).toBe(RESERVOIR_SIZE);
    expect(stats.bytesIn).toBe(3 * 10 * RESERVOIR_SIZE + 100);
    expect(stats.bytesOut).toBe(5 * 10 * RESERVOIR_SIZE + 200);
    expect(stats.latencyMs.max).toBe(99);
    expect(stats.latencyMs.mean).toBeCloseTo(49.5, 0);
    // A uniform sample of 0..99: the median is near 50 and the 99th percentile near the top.
    expect(stats.latencyMs.p50).toBeGreaterThan(30);
    expect(stats.latencyMs.p50).toBeLessThan(70);
    expect(stats.latencyMs.p99).toBeGreaterThanOrEqual(90);
  });

  it("reports zeros for a method with no settled calls", () => {
    const table = new StatsTable();
    table.bytes("S.stream", 10, 0);
    expect(table.snapshot()["S.stream"]).toEqual({ count: 0, errors: 0, bytesIn: 10, bytesOut: 0, latencyMs: { mean: 0, p50: 0, p99: 0, max: 0 } });
  });
});
