/**
 * A machine process that hangs (SIGSTOP: alive, silent, deaf): keepalives fail, the machine is declared
 * lost with a line on the output, and shutdown escalates to SIGKILL so the process still goes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { start, type Session } from "../../src/index.ts";
import { Echo } from "../fixtures/services.ts";
import { Capture, processAlive, testLocalSystem } from "./helpers.ts";

describe("a hung machine process", () => {
  let session: Session | undefined;
  let pid: number | undefined;

  afterEach(async () => {
    await session?.shutdown();
    if (pid !== undefined && processAlive(pid)) process.kill(pid, "SIGKILL");
    session = undefined;
    pid = undefined;
  });

  it("is declared lost after the keepalive timeout, and shutdown still ends its process", async () => {
    const output = new Capture();
    const system = testLocalSystem({ output, keepalive: { periodMs: 100, timeoutMs: 1_500, rpcTimeoutMs: 700 }, shutdownGraceMs: 300 });
    session = await start({ system });
    const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
    await m.waitFor("running");
    pid = system.pidOf(m)!;
    process.kill(pid, "SIGSTOP");
    await m.waitFor("stopped");
    expect(m.err?.kind).toBe("unavailable");
    expect(m.err?.message).toMatch(/lost: no keepalive/);
    expect(output.text).toContain(`[${m.addr}] bigmachine: keepalives failed; stopping the machine`);
    expect(processAlive(pid)).toBe(true);
    await session.shutdown();
    expect(processAlive(pid)).toBe(false);
  });
});
