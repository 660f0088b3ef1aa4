import { describe, expect, it } from "vitest";
import { compileFilter, lineToEntry } from "../../emulators/logging/index.ts";
import { entryTimeMs, entryToLine, instanceIdOf, serviceLogFilter, streamOf } from "./log-query.ts";

const QUERY = { projectId: "p", serviceName: "worker" };
const LABELS = { project_id: "p", service_name: "worker", location: "us-central1" };

function agentEntry(line: string, overrides: { service?: string; stream?: "stdout" | "stderr"; at?: Date; instanceId?: string } = {}) {
  return lineToEntry(line, {
    projectId: "p",
    stream: overrides.stream ?? "stdout",
    resourceLabels: { ...LABELS, service_name: overrides.service ?? "worker" },
    instanceId: overrides.instanceId ?? "i-1",
    timestamp: overrides.at ?? new Date("2026-01-01T00:00:10Z"),
  });
}

describe("serviceLogFilter", () => {
  const from = Date.parse("2026-01-01T00:00:05Z");

  it("selects the service's stdout and stderr lines of every instance from a time on", () => {
    const matches = compileFilter(serviceLogFilter(QUERY, from));
    expect(matches(agentEntry("out"))).toBe(true);
    expect(matches(agentEntry("err", { stream: "stderr", instanceId: "i-2" }))).toBe(true);
    expect(matches(agentEntry("other service", { service: "other" }))).toBe(false);
    expect(matches(agentEntry("too early", { at: new Date(from - 1) }))).toBe(false);
    expect(matches(agentEntry("at the bound", { at: new Date(from) }))).toBe(true);
    expect(matches({ ...agentEntry("request log"), logName: "projects/p/logs/run.googleapis.com%2Frequests" })).toBe(false);
    expect(matches({ ...agentEntry("no instance"), labels: {} })).toBe(false);
  });

  it("names no instance, and names the region only when asked", () => {
    expect(serviceLogFilter(QUERY, from)).not.toMatch(/instanceId\s*=/);
    expect(serviceLogFilter(QUERY, from)).not.toMatch(/location/);
    const regional = compileFilter(serviceLogFilter({ ...QUERY, location: "europe-west1" }, from));
    expect(regional(agentEntry("us"))).toBe(false);
  });

  it("quotes what it embeds", () => {
    const filter = serviceLogFilter({ projectId: "p", serviceName: 'odd"name\\' }, from);
    expect(filter).toContain('service_name="odd\\"name\\\\"');
    expect(() => compileFilter(filter)).not.toThrow();
  });
});

describe("entryToLine and friends", () => {
  it("takes the text from textPayload, a JSON message, or the JSON itself", () => {
    const time = Date.parse("2026-01-01T00:00:10Z");
    expect(entryToLine(agentEntry("plain"), time)).toEqual({ stream: "stdout", text: "plain", time: new Date(time) });
    expect(entryToLine(agentEntry('{"message":"hello","severity":"ERROR"}', { stream: "stderr" }), time)).toEqual({
      stream: "stderr",
      text: "hello",
      time: new Date(time),
    });
    expect(entryToLine(agentEntry('{"message":{"nested":true},"n":1}'), time).text).toBe('{"message":{"nested":true},"n":1}');
    expect(entryToLine({ protoPayload: { "@type": "x" } }, time)).toEqual({ text: '{"@type":"x"}', time: new Date(time) });
    expect(entryToLine({}, time).text).toBe("");
  });

  it("reads the stream from encoded and decoded log names only", () => {
    expect(streamOf("projects/p/logs/run.googleapis.com%2Fstdout")).toBe("stdout");
    expect(streamOf("projects/p/logs/run.googleapis.com/stderr")).toBe("stderr");
    expect(streamOf("projects/p/logs/run.googleapis.com%2Frequests")).toBeUndefined();
    expect(streamOf(undefined)).toBeUndefined();
  });

  it("reads timestamps in their REST, client and protobuf forms", () => {
    const ms = Date.parse("2026-01-01T00:00:10.123Z");
    expect(entryTimeMs({ timestamp: "2026-01-01T00:00:10.123456789Z" })).toBe(ms);
    expect(entryTimeMs({ timestamp: new Date(ms) })).toBe(ms);
    expect(entryTimeMs({ timestamp: { seconds: String(Math.floor(ms / 1000)), nanos: 123_000_000 } })).toBe(ms);
    expect(entryTimeMs({ timestamp: "yesterday" })).toBeUndefined();
    expect(entryTimeMs({})).toBeUndefined();
  });

  it("finds the instance in the instanceId label", () => {
    expect(instanceIdOf(agentEntry("x", { instanceId: "00abc" }))).toBe("00abc");
    expect(instanceIdOf({ labels: { instanceId: "" } })).toBeUndefined();
    expect(instanceIdOf({})).toBeUndefined();
  });
});
