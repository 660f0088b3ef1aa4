import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ListEntriesRequest } from "./list-entries.ts";
import { ServiceLogTail, type ServiceLogTailOptions } from "./log-tail.ts";
import {
  type LoggingFixture,
  nextWithin,
  recordingClient,
  startLoggingFixture,
  takeTexts,
  waitFor,
  writeLines,
} from "./fixtures/logging-fixture.ts";

const PROJECT = "tail-read-test";

describe("ServiceLogTail reading through the Logging emulator", () => {
  let fixture: LoggingFixture;
  let tails: ServiceLogTail[] = [];
  let calls: ListEntriesRequest[];
  let service = "";
  let serviceCount = 0;

  /** A tail of this test's service with short timings, reading through the official client. */
  function tail(options: Partial<ServiceLogTailOptions> = {}): ServiceLogTail {
    const recorder = recordingClient(fixture);
    calls = recorder.calls;
    const made = new ServiceLogTail({
      list: recorder.list,
      projectId: PROJECT,
      serviceName: service,
      since: new Date(Date.now() - 60_000),
      pollIntervalMs: 20,
      overlapMs: 2_000,
      // Handed on as read: ordering has tests of its own (reorder-buffer.test.ts).
      reorderMs: 0,
      retryInitialMs: 20,
      retryMaxMs: 100,
      maxRequestsPerMinute: 1_000_000,
      ...options,
    });
    tails.push(made);
    return made;
  }

  beforeAll(async () => {
    fixture = await startLoggingFixture(PROJECT);
  });
  afterAll(() => fixture.close());
  beforeEach(() => {
    // A service of its own per test, so no test reads another's lines.
    service = `worker-${++serviceCount}`;
    fixture.emulator.ingestionDelayMs = 0;
  });
  afterEach(() => {
    for (const made of tails) made.close();
    tails = [];
  });

  it("demultiplexes every instance from one query per poll", async () => {
    const logs = tail();
    writeLines(fixture, { service, instanceId: "i-1" }, ["a1"]);
    writeLines(fixture, { service, instanceId: "i-2" }, ["b1"]);
    writeLines(fixture, { service, instanceId: "i-3" }, ["c1"]);
    writeLines(fixture, { service: "other-service", instanceId: "i-1" }, ["not ours"]);
    const first = logs.follow("i-1")[Symbol.asyncIterator]();
    const second = logs.follow("i-2")[Symbol.asyncIterator]();
    expect(await takeTexts(first, 1, "i-1")).toEqual(["a1"]);
    expect(await takeTexts(second, 1, "i-2")).toEqual(["b1"]);
    writeLines(fixture, { service, instanceId: "i-2" }, ["b2", "b3"]);
    writeLines(fixture, { service, instanceId: "i-1" }, ["a2"]);
    expect(await takeTexts(first, 1, "i-1")).toEqual(["a2"]);
    expect(await takeTexts(second, 2, "i-2")).toEqual(["b2", "b3"]);

    const pollsBefore = logs.stats().polls;
    await waitFor(() => logs.stats().polls >= pollsBefore + 3, "three more polls");
    const stats = logs.stats();
    // Every request the emulator was sent is one poll's single page: one query for both followers.
    expect(stats.requests).toBe(stats.polls);
    expect(calls.length).toBe(stats.requests);
    expect(calls.every((call) => !call.pageToken && !/instanceId\s*=/.test(call.filter))).toBe(true);
    expect(calls.every((call) => call.filter.includes(`service_name="${service}"`))).toBe(true);
    // The instance no one follows was read by the same query and is kept for a follower to come.
    expect(stats.instances).toBe(3);
    expect(await takeTexts(logs.follow("i-3")[Symbol.asyncIterator](), 1, "i-3")).toEqual(["c1"]);
  });

  it("hands on lines in timestamp order when Cloud Logging makes them readable out of order", async () => {
    fixture.emulator.ingestionJitterMs = 300;
    try {
      const logs = tail({ reorderMs: 800 });
      const follower = logs.follow("i-1")[Symbol.asyncIterator]();
      const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i).padStart(2, "0")}`);
      writeLines(fixture, { service, instanceId: "i-1" }, lines);
      expect(await takeTexts(follower, 40, "i-1")).toEqual(lines);
    } finally {
      fixture.emulator.ingestionJitterMs = 0;
    }
  });

  it("makes lines from text and JSON payloads, with the stream and the entry's time", async () => {
    const logs = tail();
    const at = new Date(Date.now() - 5_000);
    writeLines(fixture, { service, instanceId: "i-1", at }, ["plain text"]);
    writeLines(fixture, { service, instanceId: "i-1", stream: "stderr", at: new Date(at.getTime() + 10) }, [
      '{"severity":"WARNING","message":"structured","n":1}',
      '{"n":2}',
    ]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    const read = [];
    for (let i = 0; i < 3; i++) read.push((await nextWithin(lines, `line ${i}`)).value);
    expect(read).toEqual([
      { stream: "stdout", text: "plain text", time: at },
      { stream: "stderr", text: "structured", time: new Date(at.getTime() + 10) },
      { stream: "stderr", text: '{"n":2}', time: new Date(at.getTime() + 11) },
    ]);
  });

  it("hands on each entry once although overlapping polls read it again", async () => {
    // An overlap wider than the test: every poll reads every entry again.
    const logs = tail({ overlapMs: 60_000 });
    writeLines(fixture, { service, instanceId: "i-1" }, ["one", "two", "three"]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(lines, 3, "the first lines")).toEqual(["one", "two", "three"]);
    const polls = logs.stats().polls;
    await waitFor(() => logs.stats().polls >= polls + 3, "three more polls");
    expect(logs.stats().duplicates).toBeGreaterThanOrEqual(6);
    writeLines(fixture, { service, instanceId: "i-1" }, ["four"]);
    // Were anything handed on twice, it would come before "four".
    expect(await takeTexts(lines, 1, "the next line")).toEqual(["four"]);
  });

  it("forgets entries for dedup once they fall behind the overlap window", async () => {
    const logs = tail({ overlapMs: 50 });
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(Date.now() - 1_000) }, ["a", "b", "c", "d"]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(lines, 4, "the first lines")).toEqual(["a", "b", "c", "d"]);
    expect(logs.stats().remembered).toBe(4);
    writeLines(fixture, { service, instanceId: "i-1" }, ["e"]);
    expect(await takeTexts(lines, 1, "the next line")).toEqual(["e"]);
    expect(logs.stats().remembered).toBe(1);
  });

  it("delivers an entry that became readable late, once", async () => {
    const logs = tail({ overlapMs: 5_000 });
    const base = Date.now() - 1_000;
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(base) }, ["early"]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(lines, 1, "early")).toEqual(["early"]);

    fixture.emulator.ingestionDelayMs = 500;
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(base + 10) }, ["late"]);
    fixture.emulator.ingestionDelayMs = 0;
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(base + 20) }, ["on time"]);
    expect(await takeTexts(lines, 2, "the other lines")).toEqual(["on time", "late"]);

    const polls = logs.stats().polls;
    await waitFor(() => logs.stats().polls >= polls + 3, "three more polls");
    writeLines(fixture, { service, instanceId: "i-1" }, ["after"]);
    expect(await takeTexts(lines, 1, "the next line")).toEqual(["after"]);
  });

  it("misses a late entry without the overlap (the control for the test above)", async () => {
    const logs = tail({ overlapMs: 0 });
    const base = Date.now() - 1_000;
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    fixture.emulator.ingestionDelayMs = 500;
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(base + 10) }, ["late"]);
    const readableAt = Date.now() + 500;
    fixture.emulator.ingestionDelayMs = 0;
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(base + 20) }, ["on time"]);
    expect(await takeTexts(lines, 1, "on time")).toEqual(["on time"]);
    await waitFor(() => Date.now() > readableAt, "the late entry to become readable");
    const polls = logs.stats().polls;
    await waitFor(() => logs.stats().polls >= polls + 3, "three more polls");
    writeLines(fixture, { service, instanceId: "i-1" }, ["after"]);
    expect(await takeTexts(lines, 1, "the next line")).toEqual(["after"]);
  });

  it("reads every page of a poll, in timestamp order", async () => {
    const logs = tail({ pageSize: 2 });
    const texts = Array.from({ length: 7 }, (_, i) => `line ${i}`);
    writeLines(fixture, { service, instanceId: "i-1" }, texts.slice(0, 3));
    writeLines(fixture, { service, instanceId: "i-2" }, ["other"]);
    writeLines(fixture, { service, instanceId: "i-1", at: new Date(Date.now() + 5) }, texts.slice(3));
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(lines, 7, "every line")).toEqual(texts);
    expect(calls.some((call) => call.pageToken)).toBe(true);
    expect(logs.stats().requests).toBeGreaterThan(logs.stats().polls);
  });

  it("keeps the last lines of instances no one follows yet, within the history window", async () => {
    const logs = tail({ recentLines: 4, historyMs: 2_000 });
    writeLines(fixture, { service, instanceId: "i-old", at: new Date(Date.now() - 10_000) }, ["before the history window"]);
    const first = logs.follow("i-1")[Symbol.asyncIterator]();
    writeLines(fixture, { service, instanceId: "i-2" }, Array.from({ length: 10 }, (_, i) => `early ${i}`));
    writeLines(fixture, { service, instanceId: "i-1" }, ["marker"]);
    expect(await takeTexts(first, 1, "i-1")).toEqual(["marker"]);
    await waitFor(() => logs.stats().entries >= 11, "every line read");
    expect(logs.stats().entries).toBe(11);

    const second = logs.follow("i-2")[Symbol.asyncIterator]();
    writeLines(fixture, { service, instanceId: "i-2" }, ["live"]);
    expect(await takeTexts(second, 5, "i-2")).toEqual(["early 6", "early 7", "early 8", "early 9", "live"]);
  });

  it("drops lines for a follower that does not read, says how many, and carries on", async () => {
    const logs = tail({ followerBufferLines: 5 });
    const slow = logs.follow("i-1")[Symbol.asyncIterator]();
    const fast = logs.follow("i-1")[Symbol.asyncIterator]();
    const texts = Array.from({ length: 10 }, (_, i) => `line ${i}`);
    // Batches no bigger than the buffer: a follower that reads as they come loses nothing.
    for (const batch of [texts.slice(0, 2), texts.slice(2, 6), texts.slice(6)]) {
      writeLines(fixture, { service, instanceId: "i-1" }, batch);
      expect(await takeTexts(fast, batch.length, "the fast follower")).toEqual(batch);
    }
    expect(logs.stats().droppedLines).toBe(5);

    expect(await takeTexts(slow, 5, "the slow follower")).toEqual(texts.slice(0, 5));
    const gap = await nextWithin(slow, "the drop line");
    expect(gap.value).toEqual({ text: expect.stringMatching(/^\[bigmachine: 5 lines of instance i-1 dropped/), time: expect.any(Date) });
    expect(gap.value.stream).toBeUndefined();
    writeLines(fixture, { service, instanceId: "i-1" }, ["later"]);
    expect(await takeTexts(slow, 1, "the slow follower")).toEqual(["later"]);
  });
});
