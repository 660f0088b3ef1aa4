/**
 * Scheduling on real instances: one request per instance at concurrency 1, the queue and its 429, the
 * request timeout (504, a closed WebSocket, a surviving instance), idle reclaim with SIGTERM then
 * SIGKILL, and min instances kept warm.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { direct, isAlive, logLines, ready, releaseAll, runService, serviceName, startHarness, waitFor, whoami, type Harness, type Whoami } from "./fixtures/plane-harness.ts";

let h: Harness | undefined;

/** Marks promises as handled, so a test that fails before awaiting them reports its own error only. */
function settled<T>(promises: Promise<T>[]): Promise<T>[] {
  for (const p of promises) p.catch(() => {});
  return promises;
}
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("concurrency and scale-out", () => {
  it("starts one instance per concurrent request at concurrency 1", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("fan", { concurrency: 1, maxInstances: 5 }));
    const held = settled([0, 1, 2].map(() => whoami(uri, "/hold")));
    await waitFor("three busy instances", () => ready(h!, "fan").filter((i) => i.inFlight === 1).length === 3);
    expect(h.plane.instances(serviceName("fan"))).toHaveLength(3);
    await releaseAll(h, "fan");
    const replies = await Promise.all(held);
    expect(new Set(replies.map((r) => r.pid)).size).toBe(3);
    expect(new Set(replies.map((r) => r.instanceId))).toEqual(new Set(ready(h, "fan").map((i) => i.id)));
  });

  it("fills each instance up to its concurrency before starting another", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("pairs", { concurrency: 2, maxInstances: 5 }));
    const held = settled([0, 1, 2, 3].map(() => whoami(uri, "/hold")));
    await waitFor("two full instances", () => ready(h!, "pairs").filter((i) => i.inFlight === 2).length === 2);
    expect(h.plane.instances(serviceName("pairs"))).toHaveLength(2);
    await releaseAll(h, "pairs");
    const replies = await Promise.all(held);
    expect(new Set(replies.map((r) => r.pid)).size).toBe(2);
  });

  it("queues a request until a slot frees, and answers 429 once the max-instances wait passes", async () => {
    h = await startHarness({ maxInstancesQueueTimeoutMs: 400 });
    // Both instances warm, so the short queue timeout never races a cold start.
    const { uri } = await h.plane.deploy(runService("capped", { concurrency: 1, minInstances: 2, maxInstances: 2 }));
    const held = settled([0, 1].map(() => whoami(uri, "/hold")));
    await waitFor("both instances busy", () => ready(h!, "capped").filter((i) => i.inFlight === 1).length === 2);

    const refused = await fetch(`${uri}/whoami`);
    expect(refused.status).toBe(429);
    expect(h.plane.instances(serviceName("capped"))).toHaveLength(2);

    // A queued request takes the first slot that frees up, whether it arrives before or after.
    const [freed] = ready(h, "capped");
    const queued = whoami(uri);
    await direct(freed, "/release", "POST");
    expect((await queued).pid).toBe(freed.pid);
    await releaseAll(h, "capped");
    await Promise.all(held);
  });

  it("answers 503 at once when the instance started for a request fails to start", async () => {
    const dir = mkdtempSync(join(tmpdir(), "serving-test-"));
    const marker = join(dir, "fail");
    try {
      h = await startHarness();
      const { uri } = await h.plane.deploy(runService("brittle", { concurrency: 1, maxInstances: 3, env: { FIXTURE_FAIL_IF_EXISTS: marker } }));
      const held = settled([whoami(uri, "/hold")]);
      await waitFor("the warm instance busy", () => ready(h!, "brittle")[0]?.inFlight === 1);
      writeFileSync(marker, "");
      // The queue timeout is long; the failed cold start answers well before it.
      const res = await fetch(`${uri}/whoami`);
      expect(res.status).toBe(503);
      await waitFor("the failure in the log", () => logLines(h!).some((line) => line.startsWith("refusing to start")));
      await releaseAll(h, "brittle");
      await Promise.all(held);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers a WebSocket handshake beyond max instances with 429", async () => {
    h = await startHarness({ maxInstancesQueueTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("ws-capped", { concurrency: 1, maxInstances: 1 }));
    const held = settled([whoami(uri, "/hold")]);
    await waitFor("the instance busy", () => ready(h!, "ws-capped")[0]?.inFlight === 1);
    const socket = new WebSocket(uri.replace("http:", "ws:"));
    const status = await new Promise<number>((resolve, reject) => {
      socket.once("unexpected-response", (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      socket.once("open", () => reject(new Error("the handshake went through")));
      socket.once("error", reject);
    });
    socket.terminate();
    expect(status).toBe(429);
    await releaseAll(h, "ws-capped");
    await Promise.all(held);
  });
});

describe("request timeout", () => {
  it("answers 504 when a request overruns, and the instance keeps serving", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("slow", { concurrency: 1, maxInstances: 1, timeout: "0.5s" }));
    const [instance] = ready(h, "slow");
    const res = await fetch(`${uri}/hold`);
    expect(res.status).toBe(504);
    expect(isAlive(instance.pid!)).toBe(true);
    // The slot is free again: the only instance takes the next request.
    const next = await whoami(uri);
    expect(next.pid).toBe(instance.pid);
    expect(next.served).toBe(2);
  });

  it("closes a WebSocket when the request timeout passes, and the instance keeps running", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("ws-timeout", { concurrency: 1, maxInstances: 1, timeout: "0.5s" }));
    const [instance] = ready(h, "ws-timeout");
    const socket = new WebSocket(uri.replace("http:", "ws:"));
    const hello = await new Promise<Whoami>((resolve, reject) => {
      socket.once("message", (data) => resolve(JSON.parse(String(data)) as Whoami));
      socket.once("error", reject);
    });
    expect(hello.instanceId).toBe(instance.id);
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    expect(isAlive(instance.pid!)).toBe(true);
    expect((await whoami(uri)).pid).toBe(instance.pid);
  });
});

describe("idle instances", () => {
  it("reclaims an idle instance above the minimum with SIGTERM", async () => {
    h = await startHarness({ idleTimeoutMs: 300 });
    await h.plane.deploy(runService("idle", { minInstances: 0 }));
    const [instance] = ready(h, "idle");
    await waitFor("the idle instance to stop", () => h!.plane.instances(serviceName("idle")).length === 0);
    await waitFor("its SIGTERM line in the log", () => logLines(h!).includes(`got SIGTERM in ${instance.pid}`));
    expect(isAlive(instance.pid!)).toBe(false);
    // It left on its own after SIGTERM, as the fixture does.
    expect(h.plane.stoppedInstances(serviceName("idle")).find((i) => i.id === instance.id)?.exit).toMatchObject({ code: 0, signal: null, planned: true });
  });

  it("SIGKILLs an instance that ignores SIGTERM once the grace period is over", async () => {
    h = await startHarness({ idleTimeoutMs: 200, shutdownGraceMs: 300 });
    await h.plane.deploy(runService("stubborn", { env: { FIXTURE_MODE: "ignore-sigterm" } }));
    const [instance] = ready(h, "stubborn");
    await waitFor("SIGTERM to reach the instance", () => logLines(h!).includes(`got SIGTERM in ${instance.pid}`));
    // The fixture outlives SIGTERM by design; only SIGKILL ends it.
    await waitFor("the process to be killed", () => !isAlive(instance.pid!));
    await waitFor("the instance to be gone", () => h!.plane.instances(serviceName("stubborn")).length === 0);
    expect(h.plane.stoppedInstances(serviceName("stubborn")).find((i) => i.id === instance.id)?.exit).toMatchObject({ signal: "SIGKILL", planned: true });
  });

  it("keeps min instances warm from deploy, reclaims the extras, and replaces a lost one", async () => {
    h = await startHarness({ idleTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("warm", { concurrency: 1, minInstances: 2, maxInstances: 4 }));
    const warm = ready(h, "warm");
    expect(warm).toHaveLength(2);
    for (const i of warm) expect(isAlive(i.pid!)).toBe(true);

    // Scale out past the minimum; once idle, only the extras go.
    const held = settled([0, 1, 2].map(() => whoami(uri, "/hold")));
    await waitFor("three busy instances", () => ready(h!, "warm").filter((i) => i.inFlight === 1).length === 3);
    await releaseAll(h, "warm");
    await Promise.all(held);
    await waitFor("the extra instances to be reclaimed", () => h!.plane.instances(serviceName("warm")).length === 2);
    const kept = ready(h, "warm");
    expect(kept).toHaveLength(2);

    h.plane.killInstance(kept[0].id);
    await waitFor("a replacement", () => {
      const now = ready(h!, "warm");
      return now.length === 2 && !now.some((i) => i.id === kept[0].id);
    });
    expect(isAlive(kept[0].pid!)).toBe(false);
    expect(ready(h, "warm").map((i) => i.id)).toContain(kept[1].id);
  });
});
