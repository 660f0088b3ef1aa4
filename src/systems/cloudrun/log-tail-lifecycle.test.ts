import { Hono } from "hono";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiError } from "../../emulators/logging/index.ts";
import { serveApp } from "../../emulators/serve.ts";
import { BigmachineError, isKind, sleep } from "../../core.ts";
import { type ListEntries, type ListEntriesRequest, listEntriesWith } from "./list-entries.ts";
import { ServiceLogTail, type ServiceLogTailOptions } from "./log-tail.ts";
import {
  type LoggingFixture,
  nextWithin,
  recording,
  recordingClient,
  startLoggingFixture,
  takeTexts,
  type TimerTracker,
  trackTimersOf,
  waitFor,
  writeLines,
} from "./fixtures/logging-fixture.ts";

const PROJECT = "tail-lifecycle-test";
const POLL_MS = 20;

describe("ServiceLogTail: lifecycle and failures", () => {
  let fixture: LoggingFixture;
  let tails: ServiceLogTail[] = [];
  let calls: ListEntriesRequest[];
  let service = "";
  let serviceCount = 0;
  /** The timers the poller (log-poller.ts) has pending. */
  let timers: TimerTracker;

  function tail(options: Partial<ServiceLogTailOptions> = {}): ServiceLogTail {
    const recorder = recordingClient(fixture);
    calls = recorder.calls;
    const made = new ServiceLogTail({
      list: recorder.list,
      projectId: PROJECT,
      serviceName: service,
      since: new Date(Date.now() - 60_000),
      pollIntervalMs: POLL_MS,
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

  /** Expects no request for several poll intervals: nothing polls. */
  async function expectNoMoreRequests(logs: ServiceLogTail): Promise<void> {
    const made = calls.length;
    await sleep(POLL_MS * 10);
    expect(calls.length).toBe(made);
    expect(logs.stats().polling).toBe(false);
  }

  beforeAll(async () => {
    fixture = await startLoggingFixture(PROJECT);
  });
  afterAll(() => fixture.close());
  beforeEach(() => {
    service = `worker-${++serviceCount}`;
    fixture.emulator.resetReadQuota();
    fixture.emulator.readQuotaPerMinute = 1_000_000;
    timers = trackTimersOf("log-poller.ts");
  });
  afterEach(() => {
    for (const made of tails) made.close();
    tails = [];
    timers.stop();
  });

  it("backs off on the read quota (429) and recovers without ending the follower", async () => {
    fixture.emulator.readQuotaPerMinute = 0;
    const retries: { error: BigmachineError; retryInMs: number }[] = [];
    const logs = tail({ onRetry: (error, retryInMs) => retries.push({ error, retryInMs }) });
    writeLines(fixture, { service, instanceId: "i-1" }, ["after the quota"]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    const pending = nextWithin(lines, "the line after the quota recovers");
    await waitFor(() => retries.length >= 3, "three refused polls");
    expect(retries[0].error).toBeInstanceOf(BigmachineError);
    expect(retries[0].error).toMatchObject({ kind: "unavailable", severity: "temporary" });
    expect(retries[0].error.message).toMatch(/read quota/);
    expect((retries[0].error.cause as { code?: number }).code).toBe(8);
    // The delay grows (jitter is ±20%, doubling is 100%).
    expect(retries[2].retryInMs).toBeGreaterThan(retries[0].retryInMs);
    expect(logs.stats()).toMatchObject({ polling: true, followers: 1 });

    fixture.emulator.readQuotaPerMinute = 1_000_000;
    expect((await pending).value?.text).toBe("after the quota");
    expect(logs.stats().retries).toBeGreaterThanOrEqual(3);
  });

  it("retries a connection failure, then reads on", async () => {
    let failuresLeft = 2;
    const retried: string[] = [];
    const inner = listEntriesWith(fixture.logging);
    const flaky: ListEntries = (request) => {
      if (failuresLeft-- > 0) return Promise.reject(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
      return inner(request);
    };
    const logs = tail({ list: flaky, onRetry: (error) => retried.push(error.kind) });
    writeLines(fixture, { service, instanceId: "i-1" }, ["through"]);
    expect(await takeTexts(logs.follow("i-1")[Symbol.asyncIterator](), 1, "the line")).toEqual(["through"]);
    expect(retried).toEqual(["net", "net"]);
  });

  it("ends followers with a typed, fatal error when the query is refused for good", async () => {
    // An invalid resource name: the emulator answers 400 INVALID_ARGUMENT, as Google does.
    const logs = tail({ projectId: "no/such project" });
    const first = logs.follow("i-1")[Symbol.asyncIterator]();
    const second = logs.follow("i-2")[Symbol.asyncIterator]();
    const failure = await nextWithin(first, "the failure").then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(BigmachineError);
    expect(failure).toMatchObject({ kind: "invalid", severity: "fatal" });
    expect((failure as Error).message).toMatch(/INVALID_ARGUMENT.*resource name/);
    await expect(nextWithin(second, "the failure")).rejects.toBe(failure);
    // The failed iterators are over; the tail refuses new followers with the same error.
    expect((await nextWithin(first, "the end")).done).toBe(true);
    await expect(nextWithin(logs.follow("i-3")[Symbol.asyncIterator](), "a refusal")).rejects.toBe(failure);
    expect(logs.stats()).toMatchObject({ polling: false, followers: 0 });
    await expectNoMoreRequests(logs);
  });

  it("reads PERMISSION_DENIED from the official client as kind unauthorized", async () => {
    const refusing = new Hono();
    refusing.post("*", (c) => {
      const denied = new ApiError("PERMISSION_DENIED", "Permission 'logging.logEntries.list' denied on resource");
      return c.json(denied.toBody(), denied.httpStatus);
    });
    const server = await serveApp(refusing);
    try {
      const logs = tail({ list: listEntriesWith(fixture.clientFor(server.port)) });
      const lines = logs.follow("i-1")[Symbol.asyncIterator]();
      const failure = await nextWithin(lines, "the failure").catch((err: unknown) => err);
      expect(isKind(failure, "unauthorized")).toBe(true);
      expect(failure).toMatchObject({ severity: "fatal", message: expect.stringMatching(/PERMISSION_DENIED/) });
    } finally {
      await server.close();
    }
  });

  it("ends an aborted follower at once while others go on", async () => {
    const logs = tail();
    const abort = new AbortController();
    const aborted = logs.follow("i-1", abort.signal)[Symbol.asyncIterator]();
    const sameInstance = logs.follow("i-1")[Symbol.asyncIterator]();
    const otherInstance = logs.follow("i-2")[Symbol.asyncIterator]();
    writeLines(fixture, { service, instanceId: "i-1" }, ["a"]);
    writeLines(fixture, { service, instanceId: "i-2" }, ["b"]);
    expect(await takeTexts(aborted, 1, "aborted")).toEqual(["a"]);
    expect(await takeTexts(sameInstance, 1, "same")).toEqual(["a"]);
    expect(await takeTexts(otherInstance, 1, "other")).toEqual(["b"]);

    const waiting = aborted.next();
    abort.abort();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(logs.stats().followers).toBe(2);
    writeLines(fixture, { service, instanceId: "i-1" }, ["c"]);
    expect(await takeTexts(sameInstance, 1, "same")).toEqual(["c"]);
    expect((await aborted.next()).done).toBe(true);
    // A signal that has already aborted gives an iterator that is over.
    expect(await logs.follow("i-1", abort.signal)[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  it("polls only while someone follows, leaving no timer, and resumes from its cursor", async () => {
    const logs = tail();
    expect(logs.stats().polling).toBe(false);
    await expectNoMoreRequests(logs);
    expect(calls).toHaveLength(0);

    const stop = new AbortController();
    const first = logs.follow("i-1", stop.signal)[Symbol.asyncIterator]();
    writeLines(fixture, { service, instanceId: "i-1" }, ["one"]);
    expect(await takeTexts(first, 1, "first")).toEqual(["one"]);
    // The measure sees the poll timer while polling runs.
    await waitFor(() => timers.pending() > 0, "a poll timer");
    const viaReturn = logs.follow("i-2")[Symbol.asyncIterator]();
    stop.abort();
    expect(logs.stats().polling).toBe(true);
    await viaReturn.return?.();
    expect(logs.stats()).toMatchObject({ polling: false, followers: 0 });
    await waitFor(() => timers.pending() === 0, "the poll timer to be cleared");
    await expectNoMoreRequests(logs);

    // Output written while no one followed is read when someone follows again.
    writeLines(fixture, { service, instanceId: "i-1" }, ["two"]);
    const again = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(again, 2, "again")).toEqual(["one", "two"]);
  });

  it("clears its long waits (between polls, before a retry, for the budget) when the last follower stops", async () => {
    const waits: [string, Partial<ServiceLogTailOptions>, () => void][] = [
      ["the next poll", { pollIntervalMs: 60_000 }, () => {}],
      ["a retry", { retryInitialMs: 60_000, retryMaxMs: 60_000 }, () => (fixture.emulator.readQuotaPerMinute = 0)],
      ["the request budget", { maxRequestsPerMinute: 1, pageSize: 1 }, () => {}],
    ];
    for (const [what, options, arrange] of waits) {
      arrange();
      writeLines(fixture, { service, instanceId: "i-1" }, ["a", "b"]);
      const logs = tail(options);
      const stop = new AbortController();
      const lines = logs.follow("i-1", stop.signal)[Symbol.asyncIterator]();
      await waitFor(() => calls.length > 0 && timers.pending() > 0, `a timer for ${what}`);
      stop.abort();
      expect(await lines.next()).toEqual({ value: undefined, done: true });
      // async_hooks reports a cleared timer a little later, so wait (with a bound) for the report.
      await waitFor(() => timers.pending() === 0, `the timer for ${what} to be cleared`);
      expect(logs.stats().polling).toBe(false);
      fixture.emulator.readQuotaPerMinute = 1_000_000;
    }
  });

  it("close stops polling and ends every follower; it is idempotent and refuses new followers", async () => {
    const logs = tail({ pollIntervalMs: 60_000 });
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    writeLines(fixture, { service, instanceId: "i-1" }, ["one"]);
    expect(await takeTexts(lines, 1, "one")).toEqual(["one"]);
    const waiting = lines.next();
    logs.close();
    logs.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(logs.stats()).toMatchObject({ polling: false, followers: 0 });
    await waitFor(() => timers.pending() === 0, "the poll timer to be cleared");
    await expectNoMoreRequests(logs);
    const refused = await logs.follow("i-1")[Symbol.asyncIterator]().next().catch((err: unknown) => err);
    expect(isKind(refused, "precondition")).toBe(true);
  });

  it("keeps to its own request budget when a poll pages", async () => {
    const recorder = recording(listEntriesWith(fixture.logging));
    const logs = tail({ list: recorder.list, pageSize: 1, maxRequestsPerMinute: 3 });
    writeLines(fixture, { service, instanceId: "i-1" }, ["a", "b", "c", "d", "e"]);
    const lines = logs.follow("i-1")[Symbol.asyncIterator]();
    expect(await takeTexts(lines, 3, "the first pages")).toEqual(["a", "b", "c"]);
    // The fourth page would be the fourth request of the minute: it waits instead.
    await sleep(POLL_MS * 10);
    expect(recorder.calls).toHaveLength(3);
    expect(logs.stats().requests).toBe(3);
  });
});
