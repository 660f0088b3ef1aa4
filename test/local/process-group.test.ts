/**
 * A machine's process group: what a service starts ends with its machine, whether the session shuts
 * it down or the machine's process dies.
 */
import { afterEach, describe, expect, it } from "vitest";
import { start, type Session } from "../../src/index.ts";
import { Spawner } from "./fixtures/services.ts";
import { processAlive, testLocalSystem } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

describe("what a local machine's services start", () => {
  let session: Session | undefined;
  let sleeps: number[] = [];

  afterEach(async () => {
    await session?.shutdown();
    session = undefined;
    for (const pid of sleeps) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    sleeps = [];
  });

  async function machineWithSleep() {
    const system = testLocalSystem();
    session = await start({ system });
    const [m] = await session.startMachines(1, { services: { Spawner: new Spawner() } });
    const sleep = await m.service<Spawner>("Spawner").sleep();
    sleeps.push(sleep);
    expect(processAlive(sleep)).toBe(true);
    return { system, m, sleep };
  }

  it("ends when the session shuts down", async () => {
    const { sleep } = await machineWithSleep();
    await session!.shutdown();
    await waitUntil("the sleep a service started is gone", () => !processAlive(sleep), 10_000);
  });

  it("ends when the machine's process is killed", async () => {
    const { system, m, sleep } = await machineWithSleep();
    system.kill(m, "SIGKILL");
    await m.waitFor("stopped");
    await waitUntil("the sleep a service started is gone", () => !processAlive(sleep), 10_000);
  });
});
