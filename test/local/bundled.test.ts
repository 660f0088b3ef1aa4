/**
 * Local machines run from the bundle of their program: one file under plain node with source maps, no
 * TypeScript loader, and stack traces that name the program's own source files and lines. In `never`
 * mode they run the program as given; a driver whose program cannot be bundled runs its machines as
 * given after one notice line.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { BigmachineError, start, type LocalSystem, type Session } from "../../src/index.ts";
import { LOCAL_ENV } from "../../src/systems/local/index.ts";
import { Echo } from "../fixtures/services.ts";
import { Debuggee } from "./fixtures/services.ts";
import { fixture, processAlive, testLocalSystem, TSX } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

const SERVICES = fileURLToPath(new URL("../fixtures/services.ts", import.meta.url));
const BUNDLED_FLAGS = ["--require", fileURLToPath(new URL("../../src/systems/local/bundle-stack-traces.cjs", import.meta.url))];

/** The 1-based line of `text` in `file`. */
function lineOf(file: string, text: string): number {
  const index = readFileSync(file, "utf8").split("\n").findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`${text} is not in ${file}`);
  return index + 1;
}

describe("machines run from their program's bundle", () => {
  let session: Session | undefined;

  afterEach(async () => {
    await session?.shutdown();
    session = undefined;
  });

  it("run the bundle under plain node with the stack-trace preload, without the program's loader", async () => {
    const system = testLocalSystem({ bundle: "always" });
    session = await start({ system });
    const program = await system.machineProgram();
    expect(program).toMatchObject({ bundled: true, source: fixture("machine.ts"), execArgv: BUNDLED_FLAGS });
    const [m] = await session.startMachines(1, { services: { Debuggee: new Debuggee() } });
    const debuggee = m.service<Debuggee>("Debuggee");
    expect(await debuggee.entry()).toBe(program.entry);
    expect(await debuggee.execArgv()).toEqual(BUNDLED_FLAGS);
    // The bundle is the shipped form's code with a source map: one ES module file, no TypeScript.
    const code = readFileSync(program.entry, "utf8");
    expect(code).toContain("//# sourceMappingURL=data:application/json;base64,");
    expect(code).not.toMatch(/from "tsx/);
  });

  it("report stack traces that name the driver's source file and line", async () => {
    const system = testLocalSystem({ bundle: "always" });
    session = await start({ system, errorStacks: true });
    const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
    const err = await m.service<Echo>("Echo").throwPlain("a failure with its stack").then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BigmachineError);
    const stack = String(((err as BigmachineError).cause as Error).stack);
    expect(stack).toMatch(/^TypeError: a failure with its stack/);
    expect(stack).toContain(`at Echo.throwPlain (${SERVICES}:${lineOf(SERVICES, "throw new TypeError(message)")}:`);
    expect(stack).not.toContain(".mjs:");
  });

  it("run the program as given in never mode", async () => {
    const system: LocalSystem = testLocalSystem({ bundle: "never" });
    session = await start({ system });
    expect(await system.machineProgram()).toMatchObject({ bundled: false, entry: fixture("machine.ts"), execArgv: TSX });
    const [m] = await session.startMachines(1, { services: { Debuggee: new Debuggee() } });
    expect(await m.service<Debuggee>("Debuggee").entry()).toBe(fixture("machine.ts"));
    expect(await m.service<Debuggee>("Debuggee").execArgv()).toEqual(TSX);
  });

  it("of a driver that cannot be bundled run it as given, after one line saying why", async () => {
    const { [LOCAL_ENV.bundle]: _mode, [LOCAL_ENV.program]: _program, ...env } = process.env;
    const child = spawn(process.execPath, [...TSX, fixture("unbundlable-driver.ts")], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    clearTimeout(timer);
    expect(code, stderr).toBe(0);
    const notices = stderr.split("\n").filter((line) => line.startsWith("bigmachine: machines run"));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`${fixture("unbundlable-driver.ts")} as given, not from its bundle`);
    expect(notices[0]).toContain("fake-addon.node");
    const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as { entry: string; execArgv: string[] };
    expect(report).toEqual({ entry: fixture("unbundlable-driver.ts"), execArgv: TSX });
    await waitUntil("the driver is gone", () => !processAlive(child.pid!), 5_000);
  });
});
