import { beforeEach, describe, expect, it } from "vitest";
import type { LogEntry } from "../contracts.ts";
import { seededRandom } from "../random.ts";
import { lineToEntry } from "./line-to-entry.ts";
import { LoggingEmulator } from "./logging-emulator.ts";

const START = Date.UTC(2026, 2, 1, 10);
const GLOBAL = { type: "global", labels: { project_id: "p" } };

let clock: number;
let emulator: LoggingEmulator;

beforeEach(() => {
  clock = START;
  emulator = new LoggingEmulator({ projectId: "p", ingestionDelayMs: 0, now: () => clock });
});

async function call(path: string, body: unknown, init: RequestInit = {}) {
  const res = await emulator.app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const write = (body: unknown) => call("/v2/entries:write", body);
const list = (body: Record<string, unknown> = {}) => call("/v2/entries:list", { resourceNames: ["projects/p"], ...body });

async function listed(body: Record<string, unknown> = {}): Promise<LogEntry[]> {
  const { status, body: reply } = await list(body);
  expect(status, JSON.stringify(reply)).toBe(200);
  return reply.entries ?? [];
}

describe("entries:write", () => {
  it("applies the request's logName, resource and labels to each entry, and fills in server fields", async () => {
    const reply = await write({
      logName: "projects/p/logs/app",
      resource: GLOBAL,
      labels: { env: "test", team: "a" },
      entries: [
        { textPayload: "one", labels: { team: "b" } },
        { jsonPayload: { n: 2 }, logName: "projects/p/logs/other", timestamp: "2026-03-01T09:00:00.5+00:00" },
      ],
    });
    expect(reply).toEqual({ status: 200, body: {} });
    const [other, one] = await listed();
    expect(one).toEqual({
      logName: "projects/p/logs/app",
      resource: GLOBAL,
      labels: { env: "test", team: "b" },
      textPayload: "one",
      timestamp: "2026-03-01T10:00:00Z",
      receiveTimestamp: "2026-03-01T10:00:00Z",
      insertId: expect.any(String),
    });
    expect(other).toMatchObject({ logName: "projects/p/logs/other", timestamp: "2026-03-01T09:00:00.500Z", jsonPayload: { n: 2 } });
    expect(other.insertId).not.toBe(one.insertId);
  });

  it("accepts severity as a name or a number and returns names, leaving DEFAULT out", async () => {
    await write({
      logName: "projects/p/logs/app",
      resource: GLOBAL,
      entries: [
        { textPayload: "a", severity: 500, timestamp: "2026-03-01T09:00:01Z" },
        { textPayload: "b", severity: "NOTICE", timestamp: "2026-03-01T09:00:02Z" },
        { textPayload: "c", severity: 0, timestamp: "2026-03-01T09:00:03Z" },
      ],
    });
    expect((await listed()).map((e) => e.severity)).toEqual(["ERROR", "NOTICE", undefined]);
  });

  it("accepts snake_case field names", async () => {
    expect((await write({ log_name: "projects/p/logs/app", resource: GLOBAL, entries: [{ text_payload: "x", insert_id: "i" }] })).status).toBe(200);
    expect(await listed()).toMatchObject([{ textPayload: "x", insertId: "i" }]);
  });

  it("rejects requests without logName or resource, with Google's error shape", async () => {
    const noLogName = await write({ resource: GLOBAL, entries: [{ textPayload: "x" }] });
    expect(noLogName.status).toBe(400);
    expect(noLogName.body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", message: expect.stringMatching(/logName is required/) });
    const noResource = await write({ logName: "projects/p/logs/app", entries: [{ textPayload: "x" }] });
    expect(noResource.body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", message: expect.stringMatching(/resource is required/) });
    expect(emulator.entryCount).toBe(0);
  });

  it("requires log names of the form projects/P/logs/ID with a URL-encoded ID", async () => {
    const writeTo = (logName: string) => write({ logName, resource: GLOBAL, entries: [{ textPayload: "x" }] });
    expect((await writeTo("projects/p/logs/run.googleapis.com%2Fstdout")).status).toBe(200);
    expect((await writeTo("/projects/p/logs/leading-slash")).status).toBe(200);
    for (const bad of ["p/logs/x", "projects/p/x", "projects/p/logs/a/b", "projects/p/logs/bad%20space", "projects/p/logs/%E0%A4%A"]) {
      const reply = await writeTo(bad);
      expect(reply.status, bad).toBe(400);
      expect(reply.body.error.message, bad).toMatch(/Invalid log name/);
    }
    // Same timestamp (one test clock reading): the order is that of the random insertIds.
    expect((await listed()).map((e) => e.logName).sort()).toEqual(["projects/p/logs/leading-slash", "projects/p/logs/run.googleapis.com%2Fstdout"]);
  });

  it("rejects unknown fields, wrong types and bad enum values as JSON errors", async () => {
    const cases: [unknown, RegExp][] = [
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "x" }], extra: 1 }, /Unknown name "extra"/],
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ text: "x" }] }, /Unknown name "text" at 'entries\[0\]'/],
      [{ logName: "projects/p/logs/a", resource: { type: "global", kind: 1 }, entries: [{}] }, /Unknown name "kind" at 'resource'/],
      [{ logName: 5, resource: GLOBAL, entries: [{}] }, /Invalid value at 'logName'/],
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ labels: { n: 1 } }] }, /entries\[0\]\.labels/],
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ severity: "warning" }] }, /LogSeverity/],
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "x", jsonPayload: {} }] }, /more than one payload/],
      [{ logName: "projects/p/logs/a", resource: GLOBAL, entries: [] }, /at least one log entry/],
      [[1, 2], /JSON object/],
    ];
    for (const [body, message] of cases) {
      const reply = await write(body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.message).toMatch(message);
    }
  });

  it("rejects bad timestamps and timestamps more than a day ahead", async () => {
    const at = (timestamp: string) => write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ timestamp }] });
    expect((await at("soon")).body.error.message).toMatch(/Invalid timestamp/);
    expect((await at("2026-03-03T10:00:00Z")).body.error.message).toMatch(/24 hours in the future/);
    expect((await at("2025-01-01T00:00:00Z")).body.error.message).toMatch(/retention/);
  });

  it("writes the valid entries of a partialSuccess request and reports the others by index", async () => {
    const body = {
      logName: "projects/p/logs/a",
      resource: GLOBAL,
      entries: [{ textPayload: "ok" }, { textPayload: "x".repeat(300 * 1024) }, { textPayload: "ok too" }],
    };
    const all = await write(body);
    expect(all.status).toBe(400);
    expect(emulator.entryCount).toBe(0);

    const partial = await write({ ...body, partialSuccess: true });
    expect(partial.status).toBe(400);
    expect(partial.body.error.message).toMatch(/index 1.*exceeds maximum size/);
    expect(partial.body.error.details).toEqual([
      {
        "@type": "type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors",
        logEntryErrors: { 1: { code: 3, message: expect.stringMatching(/exceeds maximum size/) } },
      },
    ]);
    // One timestamp for the request, so the order is that of the random insertIds.
    expect((await listed()).map((e) => e.textPayload).sort()).toEqual(["ok", "ok too"]);
  });

  it("validates but stores nothing on dryRun", async () => {
    const body = { logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "x" }], dryRun: true };
    expect(await write(body)).toEqual({ status: 200, body: {} });
    expect((await write({ ...body, logName: "nope" })).status).toBe(400);
    expect(emulator.entryCount).toBe(0);
  });

  it("drops an entry repeating the timestamp and insertId of a stored one", async () => {
    const body = { logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "x", insertId: "same", timestamp: "2026-03-01T09:00:00Z" }] };
    await write(body);
    await write(body);
    expect(emulator.entryCount).toBe(1);
  });
});

describe("entries:list", () => {
  beforeEach(async () => {
    const entries = [
      { textPayload: "first", timestamp: "2026-03-01T09:00:01Z", insertId: "b", severity: "INFO" },
      { textPayload: "tie-a", timestamp: "2026-03-01T09:00:02Z", insertId: "a", severity: "WARNING" },
      { textPayload: "tie-c", timestamp: "2026-03-01T09:00:02Z", insertId: "c", severity: "ERROR" },
      { textPayload: "last", timestamp: "2026-03-01T09:00:03Z", insertId: "d" },
    ];
    // Written newest first, to show that order comes from timestamps, not arrival.
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: entries.reverse() });
    await write({ logName: "projects/q/logs/a", resource: GLOBAL, entries: [{ textPayload: "elsewhere" }] });
  });

  const texts = (entries: LogEntry[]) => entries.map((e) => e.textPayload);

  it("orders by timestamp ascending by default, ties by insertId, and descending on request", async () => {
    expect(texts(await listed())).toEqual(["first", "tie-a", "tie-c", "last"]);
    expect(texts(await listed({ orderBy: "timestamp asc" }))).toEqual(["first", "tie-a", "tie-c", "last"]);
    expect(texts(await listed({ orderBy: "timestamp desc" }))).toEqual(["last", "tie-c", "tie-a", "first"]);
  });

  it("lists only the named projects", async () => {
    expect(texts(await listed({ resourceNames: ["projects/q"] }))).toEqual(["elsewhere"]);
    expect(await listed({ resourceNames: ["projects/r"] })).toEqual([]);
    expect((await listed({ resourceNames: ["projects/p", "projects/q"] })).length).toBe(5);
    expect(texts(await listed({ resourceNames: [], projectIds: ["q"] }))).toEqual(["elsewhere"]);
  });

  it("filters with the query language", async () => {
    expect(texts(await listed({ filter: "severity>=WARNING" }))).toEqual(["tie-a", "tie-c"]);
    expect(texts(await listed({ filter: 'textPayload:tie OR textPayload="LAST"\n-insertId=a' }))).toEqual(["tie-c", "last"]);
  });

  it("pages with opaque, stable tokens bound to the query", async () => {
    const first = await list({ pageSize: 2 });
    expect(texts(first.body.entries)).toEqual(["first", "tie-a"]);
    const token = first.body.nextPageToken;
    expect(token).toEqual(expect.any(String));
    // New entries arriving between pages do not shift the next page.
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "early", timestamp: "2026-03-01T08:00:00Z" }] });
    const second = await list({ pageSize: 2, pageToken: token });
    expect(texts(second.body.entries)).toEqual(["tie-c", "last"]);
    expect(second.body.nextPageToken).toBeUndefined();
    // The same token gives the same page again.
    expect(texts((await list({ pageSize: 2, pageToken: token })).body.entries)).toEqual(["tie-c", "last"]);

    const desc = await list({ pageSize: 3, orderBy: "timestamp desc" });
    const rest = await list({ pageSize: 3, orderBy: "timestamp desc", pageToken: desc.body.nextPageToken });
    expect(texts(rest.body.entries)).toEqual(["first", "early"]);
  });

  it("applies a token's position under a changed filter, as the Node client's rewritten time clause needs", async () => {
    const { body } = await list({ pageSize: 2 });
    const next = await list({ filter: "severity>=INFO", pageToken: body.nextPageToken });
    expect(texts(next.body.entries)).toEqual(["tie-c"]);
  });

  it("rejects tokens that are malformed, from another query, or expired", async () => {
    const { body } = await list({ pageSize: 1 });
    const other = await list({ pageSize: 1, orderBy: "timestamp desc", pageToken: body.nextPageToken });
    expect(other.body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", message: expect.stringMatching(/must match/) });
    expect((await list({ pageToken: "garbage" })).body.error.message).toMatch(/Invalid page token/);
    clock += 25 * 60 * 60 * 1000;
    expect((await list({ pageSize: 1, pageToken: body.nextPageToken })).body.error.message).toMatch(/expired/);
  });

  it("defaults pageSize to 50, allows up to 1000, and rejects negative sizes and sizes over 1000", async () => {
    const many = Array.from({ length: 1100 }, (_, i) => ({ textPayload: `n${i}`, timestamp: "2026-03-01T09:30:00Z" }));
    await write({ logName: "projects/p/logs/bulk", resource: GLOBAL, entries: many });
    expect((await listed()).length).toBe(50);
    expect((await listed({ pageSize: 1000 })).length).toBe(1000);
    expect((await listed({ pageSize: "7" })).length).toBe(7);
    expect((await list({ pageSize: -1 })).status).toBe(400);
    const tooBig = await list({ pageSize: 1001 });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error).toMatchObject({ status: "INVALID_ARGUMENT", message: expect.stringMatching(/page_size 1001.*1000/) });
  });

  it("answers an empty result with an empty object", async () => {
    expect(await list({ filter: "textPayload=nothing" })).toEqual({ status: 200, body: {} });
  });

  it("rejects a missing resourceNames, bad names, bad orderBy, and unknown fields", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ resourceNames: undefined }, /resourceNames/],
      [{ resourceNames: ["p"] }, /Invalid resource name/],
      [{ orderBy: "insertId" }, /Invalid orderBy/],
      [{ filters: "x" }, /Unknown name "filters"/],
      [{ filter: 7 }, /'filter'/],
    ];
    for (const [body, message] of cases) {
      const reply = await list(body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error).toMatchObject({ status: "INVALID_ARGUMENT", message: expect.stringMatching(message) });
    }
  });

  it("rejects a malformed filter with its position", async () => {
    const reply = await list({ filter: "severity>=ERROR AND\n(textPayload:x" });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toEqual({
      code: 400,
      status: "INVALID_ARGUMENT",
      message: "Unparseable filter: expected ')' but found end of filter at line 2, column 15",
    });
  });
});

describe("short pages", () => {
  /** A random source that returns `draws` in turn, then 0.99 (no more cuts). */
  const scripted = (...draws: number[]) => () => draws.shift() ?? 0.99;
  const texts = (entries: LogEntry[] | undefined) => (entries ?? []).map((e) => e.textPayload);

  beforeEach(async () => {
    const entries = Array.from({ length: 6 }, (_, i) => ({ textPayload: `e${i}`, timestamp: `2026-03-01T09:00:0${i}Z` }));
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries });
  });

  it("cuts a page short, even to nothing, and still gives a token that resumes where it stopped", async () => {
    // First page: cut (0.1 < rate), keeping floor(0.0 × 3) = 0 entries. Second: not cut after an empty page.
    // Third: cut, keeping floor(0.5 × 3) = 1. Then no more cuts.
    emulator = new LoggingEmulator({ projectId: "p", ingestionDelayMs: 0, now: () => clock, shortPageRate: 0.5, random: scripted(0.1, 0.0, 0.1, 0.5) });
    const entries = Array.from({ length: 6 }, (_, i) => ({ textPayload: `e${i}`, timestamp: `2026-03-01T09:00:0${i}Z` }));
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries });
    const pages: (string | undefined)[][] = [];
    let pageToken: string | undefined;
    do {
      const { body } = await list({ pageSize: 3, ...(pageToken ? { pageToken } : {}) });
      pages.push(texts(body.entries));
      pageToken = body.nextPageToken;
    } while (pageToken);
    expect(pages).toEqual([[], ["e0", "e1", "e2"], ["e3"], ["e4", "e5"]]);
  });

  it("never cuts with the rate at 0, the default", async () => {
    const { body } = await list({ pageSize: 3 });
    expect(texts(body.entries)).toEqual(["e0", "e1", "e2"]);
  });
});

describe("server-made insertIds and timestamps", () => {
  it("makes insertIds that do not follow write order", async () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ textPayload: String(i) }));
    await write({ logName: "projects/p/logs/ids", resource: GLOBAL, entries });
    // One request, one (test) clock reading: equal timestamps, so list order is insertId order.
    const read = await listed({ pageSize: 100 });
    expect(new Set(read.map((e) => e.timestamp)).size).toBe(1);
    expect(read.map((e) => e.textPayload)).not.toEqual(entries.map((e) => e.textPayload));
    expect(new Set(read.map((e) => e.insertId)).size).toBe(50);
  });

  it("stamps entries with sub-millisecond digits on the real clock", async () => {
    const real = new LoggingEmulator({ projectId: "p", ingestionDelayMs: 0 });
    for (let i = 0; i < 5; i++) {
      await real.app.request("/v2/entries:write", {
        method: "POST",
        body: JSON.stringify({ logName: "projects/p/logs/t", resource: GLOBAL, entries: [{ textPayload: String(i) }] }),
      });
    }
    real.ingest([lineToEntry("agent line", { projectId: "p", stream: "stdout", resourceLabels: {}, instanceId: "i" })]);
    const stamps = real.entries().map((e) => e.timestamp!);
    expect(stamps).toHaveLength(6);
    for (const stamp of stamps) expect(stamp).toMatch(/\.\d{6,9}Z$/);
    expect(new Set(stamps).size).toBe(6);
  });
});

describe("ingestion delay", () => {
  it("makes each agent entry readable after its own random delay, so later entries can show first", async () => {
    emulator = new LoggingEmulator({ projectId: "p", ingestionDelayMs: 0, ingestionJitterMs: 1_000, now: () => clock, random: seededRandom("jitter", "t") });
    const at = (i: number) => new Date(START - 60_000 + i);
    emulator.ingest(Array.from({ length: 20 }, (_, i) => lineToEntry(`l${i}`, { projectId: "p", stream: "stdout", resourceLabels: {}, instanceId: "i", timestamp: at(i) })));
    clock += 500;
    const visible = (await listed({ pageSize: 100 })).map((e) => Number(e.textPayload!.slice(1)));
    // Some entry is readable while an earlier-timestamped one is not.
    const gaps = visible.filter((i) => Array.from({ length: i }, (_, j) => j).some((j) => !visible.includes(j)));
    expect(visible.length).toBeGreaterThan(0);
    expect(gaps.length).toBeGreaterThan(0);
    clock += 500;
    expect((await listed({ pageSize: 100 })).length).toBe(20);
  });

  it("delays entries:write by the ingestion delay alone", async () => {
    emulator.ingestionJitterMs = 60_000;
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "written" }] });
    expect((await listed()).map((e) => e.textPayload)).toEqual(["written"]);
  });

  it("hides entries until the delay has passed since they arrived", async () => {
    emulator.ingestionDelayMs = 1500;
    emulator.ingest([lineToEntry("hello", { projectId: "p", stream: "stdout", resourceLabels: {}, instanceId: "i" })]);
    expect(emulator.entryCount).toBe(1);
    expect(await listed()).toEqual([]);
    clock += 1499;
    expect(await listed()).toEqual([]);
    clock += 1;
    expect(texts(await listed())).toEqual(["hello"]);
  });

  it("applies to entries:write too, and a changed delay applies to new entries", async () => {
    emulator.ingestionDelayMs = 1000;
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "slow" }] });
    emulator.ingestionDelayMs = 0;
    await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{ textPayload: "fast" }] });
    expect(texts(await listed())).toEqual(["fast"]);
    clock += 1000;
    // Equal timestamps: listed in the order of their (random) insertIds.
    expect(texts(await listed()).sort()).toEqual(["fast", "slow"]);
  });

  const texts = (entries: LogEntry[]) => entries.map((e) => e.textPayload);
});

describe("read quota", () => {
  it("refuses more than readQuotaPerMinute lists per project per minute with 429, then recovers", async () => {
    emulator.readQuotaPerMinute = 3;
    for (let i = 0; i < 3; i++) {
      expect((await list()).status).toBe(200);
      clock += 10_000;
    }
    const refused = await list();
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 429, status: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/Quota exceeded/) });
    expect(refused.body.error.details[0]).toMatchObject({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "RATE_LIMIT_EXCEEDED" });
    // Another project has its own quota; writes are never limited.
    expect((await list({ resourceNames: ["projects/q"] })).status).toBe(200);
    expect((await write({ logName: "projects/p/logs/a", resource: GLOBAL, entries: [{}] })).status).toBe(200);
    // The window slides: a minute after the first call, one more is allowed.
    clock = START + 60_000;
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(429);
    emulator.resetReadQuota();
    expect((await list()).status).toBe(200);
  });

  it("defaults to Google's 60 a minute", async () => {
    const fresh = new LoggingEmulator({ projectId: "p", now: () => clock });
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res = await fresh.app.request("/v2/entries:list", { method: "POST", body: JSON.stringify({ resourceNames: ["projects/p"] }) });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 200).length).toBe(60);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("the REST surface", () => {
  it("answers malformed JSON with 400 and keeps serving", async () => {
    const bad = await call("/v2/entries:write", "{not json");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", message: expect.stringMatching(/Invalid JSON payload/) });
    expect((await list()).status).toBe(200);
  });

  it("answers unknown routes and methods with 404 NOT_FOUND", async () => {
    for (const [path, method] of [["/v2/entries:delete", "POST"], ["/v2/entries:list", "GET"], ["/", "GET"]]) {
      const res = await emulator.app.request(path, { method });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    }
  });

  it("says that entries:tail is not available over REST", async () => {
    const reply = await call("/v2/entries:tail", { resourceNames: ["projects/p"] });
    expect(reply.status).toBe(501);
    expect(reply.body.error).toMatchObject({ status: "UNIMPLEMENTED", message: expect.stringMatching(/poll entries:list/) });
  });

  it("rejects bodies over 10 MB", async () => {
    const reply = await call("/v2/entries:write", JSON.stringify({ pad: "x".repeat(10 * 1024 * 1024) }));
    expect(reply.status).toBe(400);
    expect(reply.body.error.message).toMatch(/payload size exceeds the limit/);
  });
});

describe("the agent's path and memory bound", () => {
  it("rejects entries without a logName or resource type", () => {
    expect(() => emulator.ingest([{ textPayload: "x" } as unknown as LogEntry])).toThrow(TypeError);
    expect(() => emulator.ingest([{ logName: "projects/p/logs/a", resource: GLOBAL, timestamp: "noon" }])).toThrow(/Invalid timestamp/);
  });

  it("keeps at most maxEntries, dropping the oldest", async () => {
    const small = new LoggingEmulator({ projectId: "p", maxEntries: 2, ingestionDelayMs: 0, now: () => clock });
    const source = { projectId: "p", stream: "stdout" as const, resourceLabels: {}, instanceId: "i" };
    small.ingest(["a", "b", "c"].map((line, i) => lineToEntry(line, { ...source, timestamp: new Date(START - 1000 + i) })));
    expect(small.entryCount).toBe(2);
    expect(small.entries().map((e) => e.textPayload)).toEqual(["b", "c"]);
  });
});
