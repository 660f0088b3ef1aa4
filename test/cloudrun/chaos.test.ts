/**
 * The Cloud Run System on an unkind cloud: the emulators' seeded chaos drops WebSockets long before
 * their timeout, reclaims idle instances and varies cold starts, often enough that each happens several
 * times in a run. Calls and streams spanning the drops complete with every result right, once, and no
 * machine is lost. The seed is printed with any failure, so a run can be replayed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Machine, type Session } from "../../src/index.ts";
import type { EmulatedCloudRun } from "../../src/systems/cloudrun/emulated.ts";
import { CloudRunSystem } from "../../src/systems/cloudrun/system.ts";
import { Counter, Echo } from "../fixtures/services.ts";
import { startTestCloudRun, testSystemOptions } from "./cloudrun-helpers.ts";

const SEED = process.env.BIGMACHINE_TEST_CHAOS_SEED ?? "conformance-under-chaos";

let emulated: EmulatedCloudRun;
let session: Session;
let system: CloudRunSystem;

beforeAll(async () => {
  emulated = await startTestCloudRun({
    serving: { slotHoldMs: 300 },
    chaos: { seed: SEED, webSocketDropsPerMinute: 20, idleReclaimsPerMinute: 30, coldStartMaxDelayMs: 1_000 },
  });
  system = new CloudRunSystem(testSystemOptions(emulated, { service: "chaotic" }));
  session = await start({ system });
});

afterAll(async () => {
  await session?.shutdown();
  await emulated?.close();
});

/** Work that lasts: a stream, a long call, and short calls whose results must add up. */
async function workload(m: Machine): Promise<void> {
  const ticks = await m.service<Echo>("Echo").ticks({ n: 80, everyMs: 100 });
  const long = m.service<Counter>("Counter").slowIncr({ by: 1000, ms: 6_000 });
  let expected = 0;
  for (let i = 1; i <= 40; i++) {
    expected += i;
    await m.service<Counter>("Counter").incr(i);
    await new Promise((r) => setTimeout(r, 150));
  }
  const items: number[] = [];
  for await (const item of ticks as AsyncIterable<number>) items.push(item);
  expect(items).toEqual([...Array(80).keys()]);
  expect((await long).runs).toBe(1);
  expect((await m.service<Counter>("Counter").state()).count).toBe(expected + 1000);
}

describe(`the Cloud Run System under chaos (seed ${SEED})`, () => {
  it("keeps calls and streams going across dropped tunnels, and loses no machine", { timeout: 120_000 }, async () => {
    const machines = await session.startMachines(3, { services: { Echo: new Echo(), Counter: new Counter() } });
    await Promise.all(machines.map((m) => m.waitFor("running")));
    await Promise.all(machines.map(workload));
    const resumes = machines.reduce((n, m) => n + system.sessionOf(m).stats.resumes, 0);
    // Three tunnels for about 10 s at 20 drops a minute each: several drops, each resumed.
    expect(resumes).toBeGreaterThanOrEqual(3);
    for (const m of machines) expect(m.state).toBe("running");
  });
});
