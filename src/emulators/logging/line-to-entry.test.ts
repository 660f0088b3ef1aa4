import { describe, expect, it } from "vitest";
import { lineToEntry, type LineSource } from "./line-to-entry.ts";

const resourceLabels = {
  project_id: "p",
  service_name: "worker",
  revision_name: "worker-00001-abc",
  configuration_name: "worker",
  location: "us-central1",
};
const written = new Date("2026-03-01T10:00:00.250Z");
const source: LineSource = { projectId: "p", stream: "stdout", resourceLabels, instanceId: "00bf", timestamp: written };

describe("lineToEntry", () => {
  it("turns a plain line into textPayload on the stream's log, with no severity", () => {
    expect(lineToEntry("hello world", source)).toEqual({
      logName: "projects/p/logs/run.googleapis.com%2Fstdout",
      resource: { type: "cloud_run_revision", labels: resourceLabels },
      timestamp: "2026-03-01T10:00:00.250Z",
      labels: { instanceId: "00bf" },
      textPayload: "hello world",
    });
    const stderr = lineToEntry("oops", { ...source, stream: "stderr" });
    expect(stderr.logName).toBe("projects/p/logs/run.googleapis.com%2Fstderr");
    expect(stderr.severity).toBeUndefined();
  });

  it("keeps lines that are not exactly one JSON object as text", () => {
    for (const line of ['2026-03-01 {"severity":"ERROR"}', "[1,2,3]", '"just a string"', "{not json}", "42", "{"]) {
      const entry = lineToEntry(line, source);
      expect(entry.textPayload, line).toBe(line);
      expect(entry.jsonPayload).toBeUndefined();
      expect(entry.severity).toBeUndefined();
    }
  });

  it("turns a JSON object into jsonPayload, keeping message and ordinary keys", () => {
    const entry = lineToEntry('  {"message":"started","port":8080,"nested":{"a":[1,2]}}  ', source);
    expect(entry.jsonPayload).toEqual({ message: "started", port: 8080, nested: { a: [1, 2] } });
    expect(entry.textPayload).toBeUndefined();
  });

  it("lifts the special keys out of the payload into the entry", () => {
    const line = JSON.stringify({
      message: "request done",
      severity: "warning",
      "logging.googleapis.com/labels": { job: "pi", instanceId: "spoofed" },
      "logging.googleapis.com/trace": "projects/p/traces/abc",
      "logging.googleapis.com/spanId": "000000000000004a",
      "logging.googleapis.com/trace_sampled": true,
      "logging.googleapis.com/insertId": "my-id",
      "logging.googleapis.com/sourceLocation": { file: "main.ts", line: "12", function: "run" },
      "logging.googleapis.com/operation": { id: "op1", producer: "me", first: true },
      httpRequest: { requestMethod: "GET", status: 200 },
      other: "stays",
    });
    const entry = lineToEntry(line, source);
    expect(entry).toMatchObject({
      severity: "WARNING",
      labels: { job: "pi", instanceId: "00bf" },
      trace: "projects/p/traces/abc",
      spanId: "000000000000004a",
      traceSampled: true,
      insertId: "my-id",
      sourceLocation: { file: "main.ts", line: "12", function: "run" },
      operation: { id: "op1", producer: "me", first: true },
      httpRequest: { requestMethod: "GET", status: 200 },
    });
    expect(entry.jsonPayload).toEqual({ message: "request done", other: "stays" });
  });

  it("leaves special keys of the wrong form in the payload", () => {
    const entry = lineToEntry(
      JSON.stringify({ severity: "loud", "logging.googleapis.com/labels": { n: 1 }, httpRequest: "GET /", time: "noon" }),
      source,
    );
    expect(entry.severity).toBeUndefined();
    expect(entry.labels).toEqual({ instanceId: "00bf" });
    expect(entry.timestamp).toBe("2026-03-01T10:00:00.250Z");
    expect(entry.jsonPayload).toEqual({ severity: "loud", "logging.googleapis.com/labels": { n: 1 }, httpRequest: "GET /", time: "noon" });
  });

  it("takes the entry's time from time, timestamp, or timestampSeconds + timestampNanos", () => {
    const timeOf = (payload: object) => {
      const entry = lineToEntry(JSON.stringify({ message: "m", ...payload }), source);
      expect(entry.jsonPayload).toEqual({ message: "m" });
      return entry.timestamp;
    };
    expect(timeOf({ time: "2026-01-02T03:04:05.123456Z" })).toBe("2026-01-02T03:04:05.123456Z");
    expect(timeOf({ timestamp: "2026-01-02T04:04:05+01:00" })).toBe("2026-01-02T03:04:05Z");
    expect(timeOf({ timestamp: { seconds: 1767323045, nanos: 5 } })).toBe("2026-01-02T03:04:05.000000005Z");
    expect(timeOf({ timestampSeconds: 1767323045, timestampNanos: 120000000 })).toBe("2026-01-02T03:04:05.120Z");
    expect(timeOf({ timestampSeconds: "1767323045" })).toBe("2026-01-02T03:04:05Z");
  });

  it("defaults the time to now", () => {
    const before = Date.now();
    const entry = lineToEntry("x", { ...source, timestamp: undefined });
    const at = Date.parse(entry.timestamp!);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});
