/**
 * Machines whose process never serves: one that dies first and one that never reports its address.
 * Both must surface as stopped machines with a clear error, and leave no process behind.
 */
import { afterEach, describe, expect, it } from "vitest";
import { start, type Session } from "../../src/index.ts";
import { Capture, childPids, fixture, processAlive, testLocalSystem } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

describe("local system startup failures", () => {
  let session: Session | undefined;

  afterEach(async () => {
    await session?.shutdown();
    session = undefined;
  });

  it("stops a machine whose process exits before serving, with its exit code and stderr", async () => {
    const output = new Capture();
    const system = testLocalSystem({ entry: fixture("crash-on-start.ts"), output });
    session = await start({ system });
    const [m] = await session.startMachines(1);
    await m.waitFor("stopped");
    expect(m.err?.kind).toBe("unavailable");
    expect(m.err?.message).toContain("exited with code 7");
    expect(m.err?.message).toContain("crash-on-start: failing on purpose before serving");
    await expect(m.call("Supervisor.ping", 1)).rejects.toThrow(/exited with code 7/);
    // Its output stays available, and the driver's output says what happened.
    const lines: string[] = [];
    for await (const line of m.tail()) lines.push(line.text);
    expect(lines).toContain("crash-on-start: failing on purpose before serving");
    expect(output.text).toContain(`[${m.addr}] bigmachine: machine failed to start`);
  });

  it("stops a machine whose process never reports its address, and kills the process", async () => {
    const system = testLocalSystem({ entry: fixture("silent.ts"), startupTimeoutMs: 1_500 });
    session = await start({ system });
    const [m] = await session.startMachines(1);
    const pid = system.pidOf(m)!;
    await m.waitFor("stopped");
    expect(m.err?.message).toMatch(/did not report its address within 1500 ms/);
    expect(m.err?.message).toContain("silent.ts");
    await waitUntil("the silent process is killed", () => !processAlive(pid));
  });

  it("kills the processes of a start that is canceled", async () => {
    const system = testLocalSystem({ entry: fixture("silent.ts") });
    await system.init({ role: "driver", secret: "canceled-start" });
    // Bundling may start a helper process of the bundler's: let it, before counting.
    await system.machineProgram();
    const before = childPids();
    const controller = new AbortController();
    const starting = system.start(2, { signal: controller.signal });
    await waitUntil("both processes are forked", () => childPids().length >= before.length + 2);
    controller.abort();
    await expect(starting).rejects.toMatchObject({ kind: "canceled" });
    await waitUntil("the processes are gone", () => childPids().filter((pid) => !before.includes(pid)).length === 0);
    await system.shutdown();
  });
});
