/**
 * The shipped form, end to end on this host: a driver program is bundled, stored as a worker stores it,
 * and its machines run from the stored file under plain node (no tsx): they register the program's
 * services, answer calls, and are gone after shutdown. The same stored file also runs as a whole driver,
 * and a driver run from source can send its machines to it with `BIGMACHINE_LOCAL_PROGRAM`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Capture, processAlive, SHORT_KEEPALIVE, TSX } from "../../test/local/helpers.ts";
import { waitUntil } from "../../test/helpers.ts";
import { Counter, Echo, Relay } from "../../test/fixtures/services.ts";
import { start } from "../start.ts";
import { MACHINE_ENV } from "../system.ts";
import type { Session } from "../session.ts";
import { LOCAL_ENV, LocalSystem } from "../systems/local/index.ts";
import { bundleProgram } from "./bundle.ts";
import { ProgramInfo, type ProgramFacts } from "./fixtures/shipped-services.ts";
import { ProgramStore } from "./program-store.ts";

const DRIVER = fileURLToPath(new URL("./fixtures/shipped-driver.ts", import.meta.url));

/** What the driver fixture prints. */
interface DriverReport {
  driver: { entry: string; execArgv: string[] };
  facts: ProgramFacts;
  echoed: unknown;
  counter: { count: number; label: string; initialized: boolean };
}

describe("a shipped program", () => {
  let root: string;
  let stored: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "bigmachine-shipped-"));
    const bundle = await bundleProgram({ entry: DRIVER });
    const store = new ProgramStore(join(root, "programs"));
    await store.put(bundle.code, bundle.digest);
    stored = store.pathOf(bundle.digest);
  });

  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /**
   * Runs a driver process in `cwd` with short keepalives and no machine settings inherited; resolves
   * once it exits.
   */
  async function runDriver(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of [MACHINE_ENV.mode, MACHINE_ENV.system, LOCAL_ENV.program, LOCAL_ENV.bundle]) delete base[name];
    const child = spawn(process.execPath, argv, {
      cwd,
      env: {
        ...base,
        [LOCAL_ENV.keepalivePeriodMs]: String(SHORT_KEEPALIVE.periodMs),
        [LOCAL_ENV.keepaliveTimeoutMs]: String(SHORT_KEEPALIVE.timeoutMs),
        [LOCAL_ENV.keepaliveRpcTimeoutMs]: String(SHORT_KEEPALIVE.rpcTimeoutMs),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stdout = "";
    let stderr = "";
    let code: number | null | undefined;
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("close", (exitCode) => (code = exitCode));
    await waitUntil("the driver exits", () => code !== undefined, 25_000).catch((err: Error) => {
      throw new Error(`${err.message}; its stderr:\n${stderr}`);
    });
    return { code: code ?? null, stdout, stderr };
  }

  function reportOf(run: { code: number | null; stdout: string; stderr: string }): DriverReport {
    expect(run.code, run.stderr).toBe(0);
    const line = run.stdout.split("\n").find((l) => l.startsWith("{"));
    expect(line, run.stdout + run.stderr).toBeDefined();
    return JSON.parse(line!) as DriverReport;
  }

  describe("machines of a local driver, run from the stored bundle", () => {
    const output = new Capture();
    let system: LocalSystem;
    let session: Session | undefined;

    afterAll(async () => {
      await session?.shutdown();
    });

    it("run it under plain node, serve its services, and are gone after shutdown", async () => {
      system = new LocalSystem({ program: { entry: stored }, keepalive: SHORT_KEEPALIVE, shutdownGraceMs: 1_000, output });
      session = await start({ system });
      const counter = Object.assign(new Counter(), { label: "stored" });
      const [a, b] = await session.startMachines(2, { services: { Echo: new Echo(), Counter: counter, Relay: new Relay(), ProgramInfo: new ProgramInfo() } });
      await Promise.all([a.waitFor("running"), b.waitFor("running")]);

      const facts = await a.service<ProgramInfo>("ProgramInfo").facts();
      expect(facts.entry).toBe(stored);
      expect(facts.execArgv).toEqual([]);
      expect(facts.nodeOptions).not.toMatch(/tsx/);
      expect(facts.pid).toBe(system.pidOf(a));

      const value = { map: new Map([["k", [1, 2n]]]), when: new Date(0) };
      expect(await a.service<Echo>("Echo").echo(value)).toEqual(value);
      expect(await b.service<Counter>("Counter").state()).toEqual({ count: 0, label: "stored", initialized: true });
      expect(await b.service<Counter>("Counter").incr(5)).toBe(5);
      expect(await a.service<Relay>("Relay").relay({ addr: b.addr, value: "via a" })).toEqual({ from: b.addr, value: "via a" });

      const pids = [system.pidOf(a)!, system.pidOf(b)!];
      expect(pids.every(processAlive)).toBe(true);
      await session.shutdown();
      session = undefined;
      expect(pids.filter(processAlive)).toEqual([]);
      expect(a.state).toBe("stopped");
    });
  });

  it("runs as a whole driver under plain node, its machines re-running the stored file", async () => {
    // From a temporary folder, away from the sources and their node_modules: the file needs only node.
    const report = reportOf(await runDriver([stored], root));
    expect(report.driver).toEqual({ entry: stored, execArgv: [] });
    expect(report.facts.entry).toBe(stored);
    expect(report.facts.execArgv).toEqual([]);
    expect(report.echoed).toEqual({ list: [1, 2, 3], when: "now" });
    expect(report.counter).toEqual({ count: 0, label: "shipped", initialized: true });
    await waitUntil("the machine process is gone", () => !processAlive(report.facts.pid), 5_000);
  });

  it("is what the machines of a driver run from source under tsx run by default, from the bundle cache", async () => {
    const report = reportOf(await runDriver([...TSX, DRIVER], process.cwd(), { [LOCAL_ENV.cacheDir]: join(root, "cache") }));
    expect(report.driver).toEqual({ entry: DRIVER, execArgv: TSX });
    expect(report.facts.entry.startsWith(join(root, "cache", "programs"))).toBe(true);
    expect(report.facts.execArgv).toEqual(["--require", fileURLToPath(new URL("../systems/local/bundle-stack-traces.cjs", import.meta.url))]);
    expect(report.facts.nodeOptions).not.toMatch(/tsx/);
    // The machine ran the same code as the stored shipped form, with a source map after it.
    const shipped = readFileSync(stored, "utf8");
    expect(readFileSync(report.facts.entry, "utf8").startsWith(shipped)).toBe(true);
    expect(report.counter.label).toBe("shipped");
    await waitUntil("the machine process is gone", () => !processAlive(report.facts.pid), 5_000);
  });

  it("is not used when BIGMACHINE_LOCAL_BUNDLE=never: the machines re-run the driver under tsx", async () => {
    const report = reportOf(await runDriver([...TSX, DRIVER], process.cwd(), { [LOCAL_ENV.bundle]: "never" }));
    expect(report.facts.entry).toBe(DRIVER);
    expect(report.facts.execArgv).toEqual(TSX);
    await waitUntil("the machine process is gone", () => !processAlive(report.facts.pid), 5_000);
  });

  it("takes the machines of a driver run from source under tsx, named by BIGMACHINE_LOCAL_PROGRAM", async () => {
    const report = reportOf(await runDriver([...TSX, DRIVER], process.cwd(), { [LOCAL_ENV.program]: stored }));
    expect(report.driver.entry).toBe(DRIVER);
    expect(report.driver.execArgv).toEqual(TSX);
    expect(report.facts.entry).toBe(stored);
    expect(report.facts.execArgv).toEqual([]);
    expect(report.counter.label).toBe("shipped");
    await waitUntil("the machine process is gone", () => !processAlive(report.facts.pid), 5_000);
  });
});
