/**
 * The local system with real machine processes: they start and answer, their output reaches the driver
 * with a prefix and through tail, host files are readable, dead processes stop their machines with the
 * reason, and shutdown leaves no process behind.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BigmachineError, isKind, start, type LocalSystem, type Machine, type Session } from "../../src/index.ts";
import { Echo } from "../fixtures/services.ts";
import { Chatter } from "./fixtures/services.ts";
import { Capture, processAlive, testLocalSystem } from "./helpers.ts";
import { rejection, waitUntil } from "../helpers.ts";

describe("local system machines", () => {
  const output = new Capture();
  let system: LocalSystem;
  let session: Session;
  let a: Machine;
  let b: Machine;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-local-"));
    system = testLocalSystem({ output });
    session = await start({ system });
    [a, b] = await session.startMachines(2, { services: { Echo: new Echo(), Chatter: new Chatter() } });
    await Promise.all([a.waitFor("running"), b.waitFor("running")]);
  });

  afterAll(async () => {
    await session?.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("starts one process per machine, serving on loopback", async () => {
    expect(a.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(b.addr).not.toBe(a.addr);
    const [pidA, pidB] = await Promise.all([a.service<Echo>("Echo").pid(), b.service<Echo>("Echo").pid()]);
    expect(pidA).toBe(system.pidOf(a));
    expect(pidB).toBe(system.pidOf(b));
    expect(pidA).not.toBe(process.pid);
    expect(await a.service<Echo>("Echo").echo({ hello: ["world"] })).toEqual({ hello: ["world"] });
    expect(a.maxprocs).toBe(system.maxprocs());
  });

  it("writes machine output to the driver's output behind the machine's address", async () => {
    await a.service<Chatter>("Chatter").say({ text: "hello on stdout" });
    await a.service<Chatter>("Chatter").say({ text: "hello on stderr", stream: "stderr" });
    await waitUntil("both lines reach the output", () => output.text.includes(`[${a.addr}] hello on stderr\n`));
    expect(output.text).toContain(`[${a.addr}] hello on stdout\n`);
    expect(output.text).not.toContain(`[${b.addr}] hello on`);
  });

  it("tails a machine's output: kept lines first, then new ones, until aborted", async () => {
    await b.service<Chatter>("Chatter").say({ text: "before the tail" });
    await waitUntil("the line is kept", () => output.text.includes(`[${b.addr}] before the tail`));
    const controller = new AbortController();
    const seen: { text: string; stream?: string }[] = [];
    const following = (async () => {
      for await (const line of b.tail(controller.signal)) {
        seen.push(line);
        if (line.text === "after the tail started") controller.abort();
      }
    })();
    await b.service<Chatter>("Chatter").say({ text: "after the tail started", stream: "stderr" });
    await following;
    const texts = seen.map((l) => l.text);
    expect(texts).toContain("before the tail");
    expect(texts.indexOf("before the tail")).toBeLessThan(texts.indexOf("after the tail started"));
    expect(seen.at(-1)).toMatchObject({ text: "after the tail started", stream: "stderr" });
    expect(texts.some((t) => t.includes("hello on"))).toBe(false);
  });

  it("reads a file of the host, and fails with not-exist for a missing one", async () => {
    const file = join(dir, "data.bin");
    const content = Buffer.alloc(200_000, 7);
    content.write("header");
    writeFileSync(file, content);
    const chunks: Uint8Array[] = [];
    for await (const chunk of a.read(file)) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    const missing = await rejection((async () => { for await (const _ of a.read(join(dir, "nope.txt"))) void _; })());
    expect(isKind(missing, "not-exist")).toBe(true);
  });

  it("stops a killed machine with the process's fate, rejecting its pending calls", async () => {
    const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
    await m.waitFor("running");
    const pending = m.service<Echo>("Echo").wait({ ms: 60_000 });
    const pid = system.pidOf(m)!;
    expect(system.kill(m)).toBe(true);
    // The call fails with why the machine died, not as a dropped tunnel worth retrying.
    const err = await rejection(pending);
    expect(err.severity).toBe("fatal");
    expect(err.message).toContain("killed by SIGKILL");
    await m.waitFor("stopped");
    expect(m.err?.kind).toBe("unavailable");
    expect(m.err?.message).toContain("SIGKILL");
    expect((await rejection(m.call("Echo.echo", 1))).kind).toBe("unavailable");
    await waitUntil("the process is gone", () => !processAlive(pid));
    expect(await a.service<Echo>("Echo").echo("still here")).toBe("still here");
  });

  it("reports a machine that exits on its own with its exit code and last stderr lines", async () => {
    const [m] = await session.startMachines(1, { services: { Chatter: new Chatter() } });
    await m.waitFor("running");
    await rejection(m.service<Chatter>("Chatter").crash(5));
    await m.waitFor("stopped");
    expect(m.err?.message).toContain("exited with code 5");
    expect(m.err?.message).toContain("chatter: crashing with code 5");
  });

  it("shuts down: every machine process is gone when shutdown resolves", async () => {
    const other = await start({ system: testLocalSystem() });
    const machines = await other.startMachines(2, { services: { Echo: new Echo() } });
    const pids = await Promise.all(machines.map((m) => m.service<Echo>("Echo").pid()));
    expect(pids.every(processAlive)).toBe(true);
    await other.shutdown();
    expect(machines.map((m) => m.state)).toEqual(["stopped", "stopped"]);
    expect(pids.filter(processAlive)).toEqual([]);
  });
});
