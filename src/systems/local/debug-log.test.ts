import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { DebugLog } from "./debug-log.ts";

describe("DebugLog", () => {
  let dir: string | undefined;

  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("appends one JSON object a line to the debug file", () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-debug-"));
    const file = join(dir, "events.log");
    const log = new DebugLog({ enabled: true, file, stream: false });
    log.record("bigmachine:machineStarted", { machine: "127.0.0.1:1", big: 5n });
    log.record("local:kill", { pid: 9, error: new Error("boom") });
    const events = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(events).toMatchObject([
      { type: "bigmachine:machineStarted", machine: "127.0.0.1:1", big: "5", pid: process.pid },
      { type: "local:kill", pid: 9, error: { message: "boom" } },
    ]);
    expect(typeof events[0].time).toBe("string");
  });

  it("writes to the stream without a file, and drops everything when disabled", () => {
    const stream = new PassThrough();
    new DebugLog({ enabled: true, stream }).record("e", { a: 1 });
    expect(String(stream.read())).toMatch(/^bigmachine:event \{.*"type":"e".*"a":1\}\n$/);
    const quiet = new PassThrough();
    new DebugLog({ enabled: false, stream: quiet }).record("e", {});
    expect(quiet.read()).toBeNull();
  });
});
