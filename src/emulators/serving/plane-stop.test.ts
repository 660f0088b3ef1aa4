/**
 * Stopping on real instances: `remove` and `close` end every process an instance started (launchers
 * included) and every metadata server, even mid-deploy or mid-start; idle reclaim waits for open
 * WebSockets.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  CONTAINER,
  descendantsRunning,
  isAlive,
  ready,
  runService,
  serviceName,
  startHarness,
  waitFor,
  whoami,
  WRAPPER,
  type Harness,
} from "./fixtures/plane-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("stopping", () => {
  it("ends every process of an instance, not only the one the image runs", async () => {
    h = await startHarness({ shutdownGraceMs: 300 });
    h.plane.mapImage("wrapped", [process.execPath, WRAPPER]);
    const { uri } = await h.plane.deploy(runService("wrapped", { image: "wrapped", minInstances: 1 }));
    const [launcher] = ready(h, "wrapped");
    const servers: number[] = [(await whoami(uri)).pid];
    try {
      expect(servers[0]).not.toBe(launcher.pid);
      h.plane.killInstance(launcher.id);
      await waitFor("the launcher to die", () => !isAlive(launcher.pid!));
      await waitFor("the server it started to die with it", () => !isAlive(servers[0]));
      // The replacement goes as a whole on remove too.
      const replacement = await waitFor("a replacement", () => ready(h!, "wrapped")[0]);
      servers.push((await whoami(uri)).pid);
      await h.plane.remove(serviceName("wrapped"));
      expect(isAlive(replacement.pid!)).toBe(false);
      await waitFor("the replacement's server to die with it", () => !isAlive(servers[1]));
    } finally {
      // A failure here would orphan the inner servers: this test's own cleanup.
      for (const pid of servers) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
  });

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
