import { Logging, type LoggingOptions } from "@google-cloud/logging";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { serveApp, type ServedApp } from "../serve.ts";
import { lineToEntry } from "./line-to-entry.ts";
import { LoggingEmulator } from "./logging-emulator.ts";

const PROJECT = "client-test";
const RESOURCE = {
  type: "cloud_run_revision",
  labels: { project_id: PROJECT, service_name: "worker", revision_name: "worker-00001-abc", configuration_name: "worker", location: "us-central1" },
};

/** An auth client holding a static token, so the library never looks for credentials or reaches Google. */
function localAuthClient(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: "local-token", expiry_date: Date.now() + 3_600_000 });
  return client;
}

describe("the official @google-cloud/logging client (REST fallback)", () => {
  let skewMs = 0;
  let emulator: LoggingEmulator;
  let server: ServedApp;
  let logging: Logging;

  beforeAll(async () => {
    emulator = new LoggingEmulator({ projectId: PROJECT, ingestionDelayMs: 0, now: () => Date.now() + skewMs });
    server = await serveApp(emulator.app);
    const options = {
      projectId: PROJECT,
      fallback: true,
      apiEndpoint: "127.0.0.1",
      port: server.port,
      protocol: "http",
      authClient: localAuthClient(),
    };
    // The declared options leave out the REST transport settings the client passes on, and name the
    // auth client of its own (older) google-auth-library; the object works at run time.
    logging = new Logging(options as unknown as LoggingOptions);
  });
  afterAll(() => server.close());
  beforeEach(() => {
    emulator.clear();
    emulator.resetReadQuota();
    emulator.ingestionDelayMs = 0;
    emulator.shortPageRate = 0;
    skewMs = 0;
  });

  it("writes entries with Log.write and reads them back with getEntries", async () => {
    const log = logging.log("app");
    await log.write(
      [
        log.entry({ severity: "ERROR", labels: { job: "pi" } }, "text entry"),
        log.entry({ severity: "INFO" }, { message: "json entry", digits: 3 }),
      ],
      { resource: RESOURCE },
    );
    // The client adds a diagnostic entry to the first write of a process; leave it out.
    const stored = emulator.entries().filter((e) => !e.jsonPayload?.["logging.googleapis.com/diagnostic"]);
    expect(stored.map((e) => e.severity).sort()).toEqual(["ERROR", "INFO"]);
    expect(stored.every((e) => e.logName === `projects/${PROJECT}/logs/app`)).toBe(true);

    const [entries] = await logging.getEntries({ filter: 'severity>=ERROR AND labels.job="pi"' });
    expect(entries.map((e) => e.data)).toEqual(["text entry"]);
    expect(entries[0].metadata).toMatchObject({ severity: "ERROR", resource: RESOURCE, logName: `projects/${PROJECT}/logs/app` });
    expect(entries[0].metadata.timestamp).toBeInstanceOf(Date);

    const [json] = await logging.getEntries({ filter: 'jsonPayload.message:"json"' });
    expect(json.map((e) => e.data)).toMatchObject([{ message: "json entry", digits: 3 }]);
  });

  it("pages with pageSize, autoPaginate: false and pageToken, newest first by the client's default", async () => {
    const log = logging.log("paged");
    const base = Date.now() - 10_000;
    await log.write(
      Array.from({ length: 5 }, (_, i) => log.entry({ timestamp: new Date(base + i * 1000) }, `line ${i}`)),
      { resource: RESOURCE },
    );
    const filter = `logName="projects/${PROJECT}/logs/paged"`;
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const [entries, next] = await logging.getEntries({ filter, pageSize: 2, autoPaginate: false, pageToken });
      seen.push(...entries.map((e) => e.data as string));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
      pages += 1;
    } while (pageToken && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(["line 4", "line 3", "line 2", "line 1", "line 0"]);

    const [ascending] = await logging.getEntries({ filter, orderBy: "timestamp asc" });
    expect(ascending.map((e) => e.data)).toEqual(["line 0", "line 1", "line 2", "line 3", "line 4"]);
  });

  it("gathers every entry across short and empty pages that carry a nextPageToken", async () => {
    const log = logging.log("ragged");
    const base = Date.now() - 60_000;
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i}`);
    await log.write(
      lines.map((line, i) => log.entry({ timestamp: new Date(base + i * 100) }, line)),
      { resource: RESOURCE },
    );
    emulator.shortPageRate = 0.6;
    const filter = `logName="projects/${PROJECT}/logs/ragged"`;
    // Without a pageSize the client follows every token (autoPaginate), whatever each page holds.
    const [all] = await logging.getEntries({ filter, orderBy: "timestamp asc" });
    expect(all.map((e) => e.data)).toEqual(lines);

    // Paging by hand, every page cut: each is short, or empty, and still carries a token.
    emulator.shortPageRate = 1;
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken: string | undefined;
    do {
      const [entries, next] = await logging.getEntries({ filter, orderBy: "timestamp asc", pageSize: 30, autoPaginate: false, pageToken });
      seen.push(...entries.map((e) => e.data as string));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
      if (pageToken) sizes.push(entries.length);
    } while (pageToken);
    expect(seen).toEqual(lines);
    expect(sizes.length).toBeGreaterThan(4);
    // Every page is short, but the one after an empty page, which is never cut (so paging moves on).
    expect(sizes.every((size, i) => size < 30 || sizes[i - 1] === 0)).toBe(true);
  });

  it("refuses a pageSize over 1000 with INVALID_ARGUMENT", async () => {
    await expect(logging.getEntries({ filter: "severity>=ERROR", pageSize: 1001, autoPaginate: false })).rejects.toMatchObject({
      code: 3,
      message: expect.stringMatching(/page_size 1001/),
    });
  });

  it("sees only the last 24 hours unless the filter names timestamp, as the client adds that clause", async () => {
    const log = logging.log("old");
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await log.write([log.entry({ timestamp: twoDaysAgo }, "old"), log.entry({}, "new")], { resource: RESOURCE });
    const [recent] = await logging.getEntries({ filter: 'log_id("old")' });
    expect(recent.map((e) => e.data)).toEqual(["new"]);
    const [all] = await logging.getEntries({ filter: `log_id("old") AND timestamp>="${new Date(0).toISOString()}"` });
    expect(all.map((e) => e.data)).toEqual(["new", "old"]);
  });

  it("reads instance output ingested the agent's way, only once the ingestion delay has passed", async () => {
    emulator.ingestionDelayMs = 60_000;
    const source = { projectId: PROJECT, stream: "stdout" as const, resourceLabels: RESOURCE.labels, instanceId: "00inst" };
    emulator.ingest([lineToEntry('{"severity":"WARNING","message":"from the instance"}', source)]);
    const filter = 'resource.type="cloud_run_revision" AND labels.instanceId="00inst" AND severity>=WARNING';
    expect((await logging.getEntries({ filter }))[0]).toEqual([]);
    skewMs = 60_000;
    const [entries] = await logging.getEntries({ filter });
    expect(entries.map((e) => e.data)).toEqual([{ message: "from the instance" }]);
    expect(entries[0].metadata.logName).toBe(`projects/${PROJECT}/logs/run.googleapis.com%2Fstdout`);
  });

  it("surfaces the read quota as RESOURCE_EXHAUSTED", async () => {
    emulator.readQuotaPerMinute = 1;
    try {
      await logging.getEntries({ filter: "severity>=ERROR" });
      await expect(logging.getEntries({ filter: "severity>=ERROR" })).rejects.toMatchObject({ code: 8 });
    } finally {
      emulator.readQuotaPerMinute = 60;
    }
  });

  it("surfaces a malformed filter as INVALID_ARGUMENT naming the position", async () => {
    // Naming timestamp keeps the client from appending its own clause to the filter.
    const filter = 'timestamp>="2026-01-01T00:00:00Z"\n(severity>=ERROR';
    await expect(logging.getEntries({ filter })).rejects.toMatchObject({
      code: 3,
      message: expect.stringMatching(/expected '\)' but found end of filter at line 2, column 17/),
    });
  });
});
