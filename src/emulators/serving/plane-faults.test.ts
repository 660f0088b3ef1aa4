/**
 * Fault switches and the plane's plumbing on real instances: killInstance, dropConnections and
 * setColdStartDelay, streaming bodies both ways, and no process left behind by `remove` or `close`.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  CONTAINER,
  descendantsRunning,
  direct,
  isAlive,
  ready,
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

  it("frees the slot of a client that goes away, and never forwards a request whose client left the queue", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("fickle", { concurrency: 1, maxInstances: 1 }));
    const [instance] = ready(h, "fickle");
    const leaving = new AbortController();
    const abandoned = fetch(`${uri}/hold`, { signal: leaving.signal }).catch((e: Error) => e);
    await waitFor("the request in flight", () => ready(h!, "fickle")[0]?.inFlight === 1);
    const keeping = whoami(uri, "/hold");
    const queueLeaving = new AbortController();
    const gaveUp = fetch(`${uri}/whoami`, { signal: queueLeaving.signal }).catch((e: Error) => e);
    // The queued ones wait on the single busy slot; the held one reaches the instance when it frees.
    leaving.abort();
    await abandoned;
    await waitFor("the held request to take the slot", async () => (await direct<{ served: number }>(instance, "/count")).served === 2);
    queueLeaving.abort();
    await gaveUp;
    await direct(instance, "/release", "POST");
    expect((await keeping).pid).toBe(instance.pid);
    await waitFor("the slot to be free", () => ready(h!, "fickle")[0]?.inFlight === 0);
    // /hold twice, then this one: the request that left the queue never reached the container.
    expect((await whoami(uri)).served).toBe(3);
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

  it("does not reclaim an instance while a WebSocket is open on it", async () => {
    h = await startHarness({ idleTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("chatty", { concurrency: 1 }));
    const [instance] = ready(h, "chatty");
    const socket = new WebSocket(uri.replace("http:", "ws:"));
    await new Promise((resolve, reject) => socket.once("message", resolve).once("error", reject));
    // A second service deployed now shows when an idle timeout has passed.
    await h.plane.deploy(runService("clock", { concurrency: 1 }));
    await waitFor("the other service's idle instance to go", () => h!.plane.instances(serviceName("clock")).length === 0);
    expect(ready(h, "chatty").map((i) => i.id)).toEqual([instance.id]);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
    await waitFor("the instance to be reclaimed once the socket closed", () => h!.plane.instances(serviceName("chatty")).length === 0);
  });

  it("remove during a deploy fails the deploy and leaves no process", async () => {
    h = await startHarness({ coldStartDelayMs: 200 });
    const deploying = h.plane.deploy(runService("fleeting", { minInstances: 2 })).catch((e: Error) => e);
    await waitFor("the instances to be starting", () => h!.plane.instances(serviceName("fleeting")).length === 2);
    await h.plane.remove(serviceName("fleeting"));
    expect(await deploying).toBeInstanceOf(Error);
    expect(h.plane.instances(serviceName("fleeting"))).toEqual([]);
    await waitFor("no instance process", () => descendantsRunning(CONTAINER).length === 0);
    await waitFor("no metadata server", () => h!.metadataServers.size === 0);
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
