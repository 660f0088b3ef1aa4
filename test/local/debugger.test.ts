/**
 * No machine opens a debugger port because its driver has one: a driver run under `--inspect` (in its
 * flags or in NODE_OPTIONS) starts machines without it, since an inspector lets any local user run
 * code in the process without the session secret. A machine opens one only when the driver names it
 * (`inspect`, or BIGMACHINE_INSPECT), on loopback, and says so on its output.
 */
import { afterEach, describe, expect, it } from "vitest";
import { start, type Session } from "../../src/index.ts";
import { Debuggee } from "./fixtures/services.ts";
import { Capture, testLocalSystem, TSX, fixture } from "./helpers.ts";

describe("debugging local machines", () => {
  let session: Session | undefined;
  const nodeOptions = process.env.NODE_OPTIONS;

  afterEach(async () => {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
    await session?.shutdown();
    session = undefined;
  });

  it("never passes the driver's debugger flags on to machines", async () => {
    // A driver with an inspector, both ways a node process gets one (a free loopback port each).
    process.env.NODE_OPTIONS = `${nodeOptions ?? ""} --inspect=127.0.0.1:0`.trim();
    const system = testLocalSystem({ program: { entry: fixture("machine.ts"), execArgv: [...TSX, "--inspect-brk=127.0.0.1:0"] } });
    session = await start({ system });
    const [m] = await session.startMachines(1, { services: { Debuggee: new Debuggee() } });
    await m.waitFor("running");
    const debuggee = m.service<Debuggee>("Debuggee");
    expect(await debuggee.inspectorUrl()).toBeNull();
    expect((await debuggee.execArgv()).filter((flag) => /inspect|debug/.test(flag))).toEqual([]);
    // The rest of NODE_OPTIONS still reaches the machine (the test guard's preload among it).
    expect(await debuggee.nodeOptions()).toBe(nodeOptions ?? null);
  });

  it("opens an inspector on loopback for the machines the driver names, and says so", async () => {
    const output = new Capture();
    const system = testLocalSystem({ inspect: [1], output });
    session = await start({ system });
    const [first, second] = await session.startMachines(2, { services: { Debuggee: new Debuggee() } });
    await Promise.all([first.waitFor("running"), second.waitFor("running")]);
    expect(await first.service<Debuggee>("Debuggee").inspectorUrl()).toBeNull();
    const url = await second.service<Debuggee>("Debuggee").inspectorUrl();
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\//);
    expect(output.text).toMatch(/machine #1 starts with an inspector on 127\.0\.0\.1/);
    expect(output.text).toContain(`Debugger listening on ${url}`);
  });
});
