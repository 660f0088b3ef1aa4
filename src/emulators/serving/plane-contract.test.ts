/**
 * The container contract and the plane's lifecycle on real instances: env vars, output as log entries,
 * deploy failures, rolling to a new revision, fault switches, streaming bodies, and no process left
 * behind by `remove` or `close`.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { DeployError } from "../contracts.ts";
import {
  CONTAINER,
  descendantsRunning,
  direct,
  isAlive,
  PROJECT_ID,
  ready,
  REGION,
  releaseAll,
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

describe("the container contract", () => {
  it("runs instances with PORT, K_SERVICE, K_REVISION, K_CONFIGURATION, GCE_METADATA_HOST and the container's env", async () => {
    h = await startHarness();
    const { uri, revision } = await h.plane.deploy(runService("contract", { env: { FIXTURE_GREETING: "hello" } }));
    const [instance] = ready(h, "contract");
    const env = (await (await fetch(`${uri}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({
      PORT: String(instance.port),
      K_SERVICE: "contract",
      K_REVISION: revision,
      K_CONFIGURATION: "contract",
      GCE_METADATA_HOST: h.metadataServers.get(instance.id)?.hostPort,
      FIXTURE_GREETING: "hello",
    });
    expect(revision).toMatch(/^contract-/);
    // The instance's metadata server names the instance as the plane does.
    expect((await whoami(uri)).instanceId).toBe(instance.id);
  });

  it("turns output lines into cloud_run_revision entries labelled with the instance id", async () => {
    h = await startHarness();
    const { uri, revision } = await h.plane.deploy(runService("logs"));
    const who = await whoami(uri, "/log");
    const resource = {
      type: "cloud_run_revision",
      labels: { project_id: PROJECT_ID, service_name: "logs", revision_name: revision, configuration_name: "logs", location: REGION },
    };
    const labels = { instanceId: who.instanceId };
    const logName = (stream: string) => `projects/${PROJECT_ID}/logs/run.googleapis.com%2F${stream}`;
    await waitFor("the three lines", () => h!.logs.some((e) => e.jsonPayload?.message === "structured line"));
    expect(h.logs).toContainEqual(expect.objectContaining({ logName: logName("stdout"), resource, labels, textPayload: `plain line from ${who.pid}` }));
    expect(h.logs).toContainEqual(expect.objectContaining({ logName: logName("stderr"), resource, labels, textPayload: `error line from ${who.pid}` }));
    expect(h.logs).toContainEqual(
      expect.objectContaining({ logName: logName("stdout"), resource, labels, severity: "WARNING", jsonPayload: { message: "structured line", pid: who.pid } }),
    );
  });
});

describe("deploying", () => {
  it("refuses an image that maps to no command with CONTAINER_MISSING", async () => {
    h = await startHarness();
    const failure = await h.plane.deploy(runService("missing", { image: "us-docker.pkg.dev/p/r/unknown:1" })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("CONTAINER_MISSING");
    // A mapped image deploys under the same name afterwards.
    h.plane.mapImage("us-docker.pkg.dev/p/r/unknown:1", [process.execPath, CONTAINER]);
    await h.plane.deploy(runService("missing", { image: "us-docker.pkg.dev/p/r/unknown:1" }));
    expect(ready(h, "missing")).toHaveLength(1);
  });

  it("refuses a container that never listens with HEALTH_CHECK_CONTAINER_ERROR and leaves no process", async () => {
    h = await startHarness({ startupTimeoutMs: 500, shutdownGraceMs: 300 });
    const failure = await h.plane.deploy(runService("deaf", { env: { FIXTURE_MODE: "never-listen" } })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("HEALTH_CHECK_CONTAINER_ERROR");
    await waitFor("no instance process", () => descendantsRunning(CONTAINER).length === 0);
    expect(h.plane.instances(serviceName("deaf")).filter((i) => i.state !== "stopped")).toEqual([]);
  });

  it("refuses a container that exits at once with HEALTH_CHECK_CONTAINER_ERROR", async () => {
    h = await startHarness();
    h.plane.mapImage("crasher", [process.execPath, "-e", "process.exit(3)"]);
    const failure = await h.plane.deploy(runService("crash", { image: "crasher" })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeployError);
    expect((failure as DeployError).reason).toBe("HEALTH_CHECK_CONTAINER_ERROR");
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
});

describe("fault switches", () => {
  it("killInstance crashes an instance; the next request gets a fresh one", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("crashy"));
    const before = await whoami(uri);
    h.plane.killInstance(before.instanceId);
    await waitFor("the process to die", () => !isAlive(before.pid));
    const after = await whoami(uri);
    expect(after.pid).not.toBe(before.pid);
    expect(after.instanceId).not.toBe(before.instanceId);
    expect(() => h!.plane.killInstance("no-such-instance")).toThrow();
  });

  it("dropConnections breaks open requests and WebSockets; the instance keeps serving", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("flaky", { concurrency: 10, maxInstances: 1 }));
    const [instance] = ready(h, "flaky");
    const held = fetch(`${uri}/hold`).then(
      (res) => res.text(),
      (err: Error) => err,
    );
    const socket = new WebSocket(uri.replace("http:", "ws:"));
    await new Promise((resolve, reject) => socket.once("message", resolve).once("error", reject));
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await waitFor("both to be in flight", () => ready(h!, "flaky")[0]?.inFlight === 2);

    h.plane.dropConnections(instance.id);
    expect(await held).toBeInstanceOf(Error);
    await socketClosed;
    expect(isAlive(instance.pid!)).toBe(true);
    expect((await whoami(uri)).pid).toBe(instance.pid);
  });

  it("setColdStartDelay slows new instances: a request queued behind one gets 429", async () => {
    h = await startHarness({ queueTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("sluggish", { concurrency: 1, maxInstances: 2 }));
    const held = whoami(uri, "/hold");
    await waitFor("the warm instance to be busy", () => ready(h!, "sluggish")[0]?.inFlight === 1);

    h.plane.setColdStartDelay(60_000);
    expect((await fetch(`${uri}/whoami`)).status).toBe(429);
    expect(h.plane.instances(serviceName("sluggish")).filter((i) => i.state === "starting")).toHaveLength(1);

    await releaseAll(h, "sluggish");
    await held;
    // Without the delay the next cold start comes up; the delayed one is still waiting.
    h.plane.setColdStartDelay(0);
    await h.plane.deploy(runService("quick", { concurrency: 1, maxInstances: 1 }));
    expect(ready(h, "quick")).toHaveLength(1);
  });
});

describe("streaming", () => {
  it("passes a streamed response through chunk by chunk", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("streamer"));
    const res = await fetch(`${uri}/stream`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("first\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    // The fixture sends the rest only when told, so "first" got here while the response was open.
    expect(text).toBe("first\n");
    await releaseAll(h, "streamer");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe("first\nlast\n");
  });

  it("passes a streamed request body through chunk by chunk", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("echo"));
    const req = http.request(`${uri}/echo`, { method: "POST", headers: { "content-type": "text/plain" } });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once("response", resolve).once("error", reject);
      req.write("alpha");
    });
    res.setEncoding("utf8");
    const nextChunk = () => new Promise<string>((resolve) => res.once("data", resolve));
    // Each chunk is answered before the next is sent: nothing waits for the whole body.
    expect(await nextChunk()).toBe("echo:alpha");
    const second = nextChunk();
    req.write("beta");
    expect(await second).toBe("echo:beta");
    const ended = new Promise<void>((resolve) => res.once("end", resolve));
    req.end();
    await ended;
  });
});

describe("stopping", () => {
  it("remove stops a service's instances and frees its URL; other services keep running", async () => {
    h = await startHarness();
    const doomed = await h.plane.deploy(runService("doomed", { minInstances: 2, concurrency: 1 }));
    const kept = await h.plane.deploy(runService("kept"));
    const pids = ready(h, "doomed").map((i) => i.pid!);
    const held = fetch(`${doomed.uri}/hold`).then(
      (res) => res.status,
      () => "broken",
    );
    await waitFor("a request in flight", () => ready(h!, "doomed").some((i) => i.inFlight === 1));

    await h.plane.remove(serviceName("doomed"));
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(h.plane.instances(serviceName("doomed"))).toEqual([]);
    await held;
    await expect(fetch(`${doomed.uri}/whoami`)).rejects.toThrow();
    expect((await whoami(kept.uri)).pid).toBe(ready(h, "kept")[0].pid);
    await h.plane.remove(serviceName("doomed"));
  });

  it("close stops every instance, including starting ones, and their metadata servers", async () => {
    h = await startHarness({ shutdownGraceMs: 300 });
    await h.plane.deploy(runService("a", { minInstances: 2, concurrency: 1 }));
    const b = await h.plane.deploy(runService("b", { concurrency: 1, env: { FIXTURE_MODE: "ignore-sigterm" } }));
    const busy = whoami(b.uri, "/hold").catch((e: Error) => e);
    await waitFor("the b instance busy", () => ready(h!, "b")[0]?.inFlight === 1);
    const starting = fetch(`${b.uri}/whoami`).catch((e: Error) => e);
    await waitFor("a cold start", () => h!.plane.instances(serviceName("b")).some((i) => i.state === "starting"));
    const pids = h.plane.instances().map((i) => i.pid).filter((p): p is number => p !== undefined);

    await h.plane.close();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(descendantsRunning(CONTAINER)).toEqual([]);
    expect(h.plane.instances()).toEqual([]);
    expect([...h.metadataServers.keys()]).toEqual([]);
    await Promise.all([busy, starting]);
    await h.plane.close();
  });
});
