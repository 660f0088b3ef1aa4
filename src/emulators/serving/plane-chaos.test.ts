/**
 * Chaos on real instances: idle instances reclaimed at random moments, WebSockets dropped before their
 * timeout, and cold starts whose extra delays follow the seed.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Chaos } from "../chaos.ts";
import { isAlive, ready, releaseAll, runService, serviceName, startHarness, waitFor, whoami, type Harness } from "./fixtures/plane-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const quiet = { idleReclaimsPerMinute: 0, webSocketDropsPerMinute: 0, coldStartMaxDelayMs: 0 };

describe("chaos", () => {
  it("reclaims idle instances at random moments; the next request gets a fresh instance", async () => {
    // About one reclaim every 20 ms of idleness, so each idle instance goes almost at once.
    h = await startHarness({ chaos: new Chaos({ seed: "reclaims", ...quiet, idleReclaimsPerMinute: 3_000 }) });
    const { uri } = await h.plane.deploy(runService("reclaimed", { concurrency: 1, maxInstances: 2 }));
    const [first] = h.plane.instances(serviceName("reclaimed"));
    await waitFor("the idle instance to be reclaimed", () => h!.plane.stoppedInstances("reclaimed").some((i) => i.id === first.id));
    const stopped = h.plane.stoppedInstances("reclaimed").find((i) => i.id === first.id)!;
    expect(stopped.exit).toMatchObject({ reason: "reclaimed while idle (chaos)", planned: true });
    expect(isAlive(first.pid!)).toBe(false);
    // A busy instance is never reclaimed: this request is answered by an instance started for it.
    const reply = await whoami(uri);
    expect(reply.instanceId).not.toBe(first.id);
  });

  it("drops open WebSockets before their timeout, leaving the instance running", async () => {
    h = await startHarness({ chaos: new Chaos({ seed: "drops", ...quiet, webSocketDropsPerMinute: 600 }) });
    const { uri } = await h.plane.deploy(runService("dropped", { concurrency: 10, maxInstances: 1, timeout: "300s" }));
    const [instance] = ready(h, "dropped");
    for (let n = 0; n < 3; n++) {
      const socket = new WebSocket(uri.replace("http:", "ws:"));
      const code = await new Promise<number>((resolve, reject) => {
        socket.once("error", reject);
        socket.once("close", (closeCode) => resolve(closeCode));
      });
      // Cut, not closed: no close frame came (1006), long before the five-minute timeout.
      expect(code).toBe(1006);
    }
    expect(isAlive(instance.pid!)).toBe(true);
    expect((await whoami(uri)).instanceId).toBe(instance.id);
  });

  it("delays cold starts by the seed's draws", async () => {
    const chaos = () => new Chaos({ seed: "cold", ...quiet, coldStartMaxDelayMs: 300 });
    const expected = chaos();
    const draws = [expected.coldStartDelayMs(), expected.coldStartDelayMs(), expected.coldStartDelayMs()];
    h = await startHarness({ chaos: chaos() });
    const { uri } = await h.plane.deploy(runService("cold", { concurrency: 1, maxInstances: 3 }));
    // One instance at the deploy, then one for each held request beyond the first.
    const held = [whoami(uri, "/hold"), whoami(uri, "/hold"), whoami(uri, "/hold")];
    await waitFor("three busy instances", () => ready(h!, "cold").filter((i) => i.inFlight === 1).length === 3);
    expect(h.plane.instances(serviceName("cold")).map((i) => i.startDelayMs)).toEqual(draws);
    expect(new Set(draws).size).toBeGreaterThan(1);
    await releaseAll(h, "cold");
    await Promise.all(held);
  });
});
