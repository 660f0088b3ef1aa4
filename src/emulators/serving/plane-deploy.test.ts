/**
 * Deploying on real instances: images that map to nothing, containers that never serve, rolling a
 * service to a new revision on the same URL, and what happens to requests and instances meanwhile.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DeployError } from "../contracts.ts";
import {
  CONTAINER,
  descendantsRunning,
  direct,
  isAlive,
  ready,
  runService,
  serviceName,
  startHarness,
  waitFor,
  whoami,
  type Harness,
} from "./fixtures/plane-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("deploying", () => {
  it("refuses an image that maps to no command with CONTAINER_MISSING", async () => {
    h = await startHarness();
    const failure = await h.plane.deploy(runService("missing", { image: "images.example/p/r/unknown:1" })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("CONTAINER_MISSING");
    // A mapped image deploys under the same name afterwards.
    h.plane.mapImage("images.example/p/r/unknown:1", [process.execPath, CONTAINER]);
    await h.plane.deploy(runService("missing", { image: "images.example/p/r/unknown:1" }));
    expect(ready(h, "missing")).toHaveLength(1);
  });

  it("refuses a container that never listens with HEALTH_CHECK_CONTAINER_ERROR and leaves no process", async () => {
    // Long enough for a node process to start on a busy machine, short enough to fail fast.
    h = await startHarness({ startupTimeoutMs: 2_000, shutdownGraceMs: 300 });
    const failure = await h.plane.deploy(runService("deaf", { env: { FIXTURE_MODE: "never-listen" } })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("HEALTH_CHECK_CONTAINER_ERROR");
    await waitFor("no instance process", () => descendantsRunning(CONTAINER).length === 0);
    expect(h.plane.instances(serviceName("deaf")).filter((i) => i.state !== "stopped")).toEqual([]);
    await waitFor("its metadata server to close", () => h!.metadataServers.size === 0);
  });

  it("refuses a container that exits at once with HEALTH_CHECK_CONTAINER_ERROR, and logs what it wrote", async () => {
    h = await startHarness();
    h.plane.mapImage("crasher", [process.execPath, "-e", "console.error('cannot read config'); process.exit(3)"]);
    const failure = await h.plane.deploy(runService("crash", { image: "crasher" })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("HEALTH_CHECK_CONTAINER_ERROR");
    await waitFor("the crash output in the log", () =>
      h!.logs.some((e) => e.textPayload === "cannot read config" && e.logName.endsWith("run.googleapis.com%2Fstderr")),
    );
    await waitFor("its metadata server to close", () => h!.metadataServers.size === 0);
  });

  it("keeps the serving revision when a redeploy fails", async () => {
    h = await startHarness();
    const good = await h.plane.deploy(runService("steady", { env: { FIXTURE_GREETING: "good" } }));
    const [serving] = ready(h, "steady");
    h.plane.mapImage("crasher", [process.execPath, "-e", "process.exit(3)"]);
    const failure = await h.plane.deploy(runService("steady", { image: "crasher" })).catch((e: unknown) => e);
    expect((failure as DeployError).reason).toBe("HEALTH_CHECK_CONTAINER_ERROR");
    const env = (await (await fetch(`${good.uri}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({ K_REVISION: good.revision, FIXTURE_GREETING: "good" });
    await waitFor("the failed revision's instance to go", () => h!.plane.instances(serviceName("steady")).length === 1);
    expect(ready(h, "steady").map((i) => i.id)).toEqual([serving.id]);
  });

  it("rolls a redeploy to a new revision on the same URL; old instances finish their requests, then stop", async () => {
    h = await startHarness();
    const first = await h.plane.deploy(runService("roll", { concurrency: 1, env: { FIXTURE_GREETING: "one" } }));
    const [old] = ready(h, "roll");
    const inFlight = whoami(first.uri, "/hold");
    await waitFor("the request to reach the old instance", () => ready(h!, "roll")[0]?.inFlight === 1);

    const second = await h.plane.deploy(runService("roll", { concurrency: 1, env: { FIXTURE_GREETING: "two" } }));
    expect(second.uri).toBe(first.uri);
    expect(second.revision).not.toBe(first.revision);
    const env = (await (await fetch(`${second.uri}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({ K_REVISION: second.revision, FIXTURE_GREETING: "two" });
    expect(isAlive(old.pid!)).toBe(true);

    await direct(old, "/release", "POST");
    expect((await inFlight).pid).toBe(old.pid);
    await waitFor("the old instance to stop", () => !isAlive(old.pid!));
    const revisions = new Set(h.plane.instances(serviceName("roll")).filter((i) => i.state !== "stopped").map((i) => i.revision));
    expect(revisions).toEqual(new Set([second.revision]));
  });

  it("brings up the new revision's minimum on a redeploy, then stops the old instances", async () => {
    h = await startHarness();
    const first = await h.plane.deploy(runService("fleet", { minInstances: 2 }));
    const old = ready(h, "fleet");
    const second = await h.plane.deploy(runService("fleet", { minInstances: 2 }));
    const fresh = ready(h, "fleet").filter((i) => i.revision === second.revision);
    expect(fresh).toHaveLength(2);
    await waitFor("the old instances to stop", () => old.every((i) => !isAlive(i.pid!)));
    expect(new Set(h.plane.instances(serviceName("fleet")).map((i) => i.revision))).toEqual(new Set([second.revision]));
    expect(first.revision).not.toBe(second.revision);
  });

  it("applies concurrent deploys of one service in call order", async () => {
    h = await startHarness();
    const [a, b] = await Promise.all([
      h.plane.deploy(runService("racy", { env: { FIXTURE_GREETING: "a" } })),
      h.plane.deploy(runService("racy", { env: { FIXTURE_GREETING: "b" } })),
    ]);
    expect(a.uri).toBe(b.uri);
    expect(a.revision).not.toBe(b.revision);
    const env = (await (await fetch(`${b.uri}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({ K_REVISION: b.revision, FIXTURE_GREETING: "b" });
  });

  it("serves a request queued during a redeploy from the new revision", async () => {
    h = await startHarness();
    const first = await h.plane.deploy(runService("handover", { concurrency: 1, maxInstances: 1 }));
    const [old] = ready(h, "handover");
    const holding = whoami(first.uri, "/hold");
    await waitFor("the old instance to be busy", () => ready(h!, "handover")[0]?.inFlight === 1);
    const queued = fetch(`${first.uri}/env`).then(async (res) => ({ status: res.status, env: (await res.json().catch(() => ({}))) as Record<string, string> }));

    const second = await h.plane.deploy(runService("handover", { concurrency: 1, maxInstances: 1 }));
    const answer = await queued;
    expect(answer.status).toBe(200);
    expect(answer.env.K_REVISION).toBe(second.revision);
    await direct(old, "/release", "POST");
    expect((await holding).pid).toBe(old.pid);
  });
});
