import { describe, expect, it } from "vitest";
import { severityFromAgent, severityFromWire, severityValueFromFilter } from "./severity.ts";
import {
  formatTimestampKey,
  msFromTimestampKey,
  parseTimestamp,
  timestampKeyFromMs,
  timestampKeyFromParts,
} from "./timestamp.ts";

describe("timestamps", () => {
  it("parses RFC 3339 into a sortable nanosecond key", () => {
    expect(parseTimestamp("2026-03-01T10:00:00Z")?.key).toBe("2026-03-01T10:00:00.000000000Z");
    expect(parseTimestamp("2026-03-01T10:00:00.5Z")?.key).toBe("2026-03-01T10:00:00.500000000Z");
    expect(parseTimestamp("2026-03-01T10:00:00.123456789Z")?.key).toBe("2026-03-01T10:00:00.123456789Z");
    expect(parseTimestamp("2026-03-01t10:00:00z")?.key).toBe("2026-03-01T10:00:00.000000000Z");
    expect(parseTimestamp("2026-03-01")?.key).toBe("2026-03-01T00:00:00.000000000Z");
    expect(parseTimestamp("2026-03-01T10:00:00.25Z")?.ms).toBe(Date.UTC(2026, 2, 1, 10, 0, 0, 250));
  });

  it("normalizes offsets to UTC, across day boundaries", () => {
    expect(parseTimestamp("2026-03-01T01:30:00.000001+02:00")?.key).toBe("2026-02-28T23:30:00.000001000Z");
    expect(parseTimestamp("2026-12-31T23:00:00-01:30")?.key).toBe("2027-01-01T00:30:00.000000000Z");
  });

  it("rejects malformed timestamps and impossible dates", () => {
    for (const bad of ["", "yesterday", "2026-03-01T10:00Z", "2026-02-30T00:00:00Z", "2026-03-01T24:00:00Z",
      "2026-03-01T10:00:00.1234567891Z", "2026-03-01T10:00:00", "1700000000"]) {
      expect(parseTimestamp(bad), bad).toBeUndefined();
    }
  });

  it("keys order like time", () => {
    const times = ["2026-03-01T10:00:00.000000001Z", "2026-03-01T09:59:59.999999999Z", "2026-03-01T10:00:00Z"];
    const sorted = times.map((t) => parseTimestamp(t)!.key).sort();
    expect(sorted.map(formatTimestampKey)).toEqual([
      "2026-03-01T09:59:59.999999999Z",
      "2026-03-01T10:00:00Z",
      "2026-03-01T10:00:00.000000001Z",
    ]);
  });

  it("formats with 0, 3, 6 or 9 fractional digits", () => {
    expect(formatTimestampKey("2026-03-01T10:00:00.000000000Z")).toBe("2026-03-01T10:00:00Z");
    expect(formatTimestampKey("2026-03-01T10:00:00.120000000Z")).toBe("2026-03-01T10:00:00.120Z");
    expect(formatTimestampKey("2026-03-01T10:00:00.123400000Z")).toBe("2026-03-01T10:00:00.123400Z");
    expect(formatTimestampKey("2026-03-01T10:00:00.123456780Z")).toBe("2026-03-01T10:00:00.123456780Z");
  });

  it("converts from milliseconds and from seconds + nanos, and back", () => {
    const ms = Date.UTC(2026, 2, 1, 10, 0, 0, 7);
    expect(timestampKeyFromMs(ms)).toBe("2026-03-01T10:00:00.007000000Z");
    expect(msFromTimestampKey(timestampKeyFromMs(ms))).toBe(ms);
    expect(timestampKeyFromParts(Date.UTC(2026, 2, 1, 10) / 1000, 5)).toBe("2026-03-01T10:00:00.000000005Z");
    expect(timestampKeyFromParts(0, 1_000_000_000)).toBeUndefined();
    expect(timestampKeyFromParts(Number.NaN, 0)).toBeUndefined();
  });
});

describe("severities", () => {
  it("reads the wire form: exact names or enum numbers", () => {
    expect(severityFromWire("ERROR")).toBe("ERROR");
    expect(severityFromWire(500)).toBe("ERROR");
    expect(severityFromWire(0)).toBe("DEFAULT");
    expect(severityFromWire("error")).toBeUndefined();
    expect(severityFromWire(450)).toBeUndefined();
    expect(severityFromWire(true)).toBeUndefined();
  });

  it("reads filter values: names in any case, or any number", () => {
    expect(severityValueFromFilter("warning")).toBe(400);
    expect(severityValueFromFilter("EMERGENCY")).toBe(800);
    expect(severityValueFromFilter("450")).toBe(450);
    expect(severityValueFromFilter("LOUD")).toBeUndefined();
  });

  it("reads the agent's lenient spellings", () => {
    expect(severityFromAgent("warn")).toBe("WARNING");
    expect(severityFromAgent("Error")).toBe("ERROR");
    expect(severityFromAgent("fatal")).toBe("CRITICAL");
    expect(severityFromAgent(" info ")).toBe("INFO");
    expect(severityFromAgent(300)).toBe("NOTICE");
    expect(severityFromAgent("loud")).toBeUndefined();
  });
});
