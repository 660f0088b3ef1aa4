/**
 * Making the machines' program ready: as given, or bundled with the node flags a bundle needs; in
 * `auto` mode a program that cannot be bundled runs as given after one notice line, and a package's own
 * script is left alone; in `always` mode either is an error.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import { LOCAL_ENV, type ProgramChoice } from "./config.ts";
import { isPackageScript, prepareProgram, STACK_TRACES_PRELOAD } from "./machine-program.ts";

function shipFixture(name: string): string {
  return fileURLToPath(new URL(`../../ship/fixtures/${name}`, import.meta.url));
}

describe("prepareProgram", () => {
  let cacheDir: string;
  const notices: string[] = [];
  const options = () => ({ cacheDir, notice: (line: string) => notices.push(line) });

  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), "bigmachine-machine-program-"));
  });

  afterAll(() => {
    rmSync(cacheDir, { recursive: true, force: true });
  });

  function choice(entry: string, bundle: ProgramChoice["bundle"]): ProgramChoice {
    return { source: { entry, execArgv: ["--import", "tsx", "--max-old-space-size=256"], args: ["--n", "2"] }, bundle };
  }

  it("runs the program as given in never mode", async () => {
    const program = await prepareProgram(choice(shipFixture("hello.ts"), "never"), options());
    expect(program).toEqual({ entry: shipFixture("hello.ts"), execArgv: ["--import", "tsx", "--max-old-space-size=256"], args: ["--n", "2"], source: shipFixture("hello.ts"), bundled: false });
  });

  it("runs the bundle with plain node, the stack-trace preload and the program's other flags and arguments", async () => {
    notices.length = 0;
    const program = await prepareProgram(choice(shipFixture("hello.ts"), "auto"), options());
    expect(program).toMatchObject({ execArgv: ["--max-old-space-size=256", "--require", STACK_TRACES_PRELOAD], args: ["--n", "2"], source: shipFixture("hello.ts"), bundled: true });
    expect(program.entry.startsWith(cacheDir)).toBe(true);
    expect(program.digest).toMatch(/^sha256:/);
    expect(notices).toEqual([]);
  });

  it("runs a program that cannot be bundled as given in auto mode, after one line saying why", async () => {
    notices.length = 0;
    const program = await prepareProgram(choice(shipFixture("native.mjs"), "auto"), options());
    expect(program.bundled).toBe(false);
    expect(program.entry).toBe(shipFixture("native.mjs"));
    expect(program.execArgv).toEqual(["--import", "tsx", "--max-old-space-size=256"]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).not.toContain("\n");
    expect(notices[0]).toContain(`machines run ${shipFixture("native.mjs")} as given, not from its bundle: `);
    expect(notices[0]).toContain("fake-addon.node");
    expect(notices[0]).toContain(`${LOCAL_ENV.bundle}=never`);
  });

  it("fails in always mode with the bundler's error", async () => {
    const err = await prepareProgram(choice(shipFixture("native.mjs"), "always"), options()).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, "not-supported")).toBe(true);
    expect((err as Error).message).toContain("fake-addon.node");
  });

  it("leaves a package's own script (a test runner's, say) as given in auto mode", async () => {
    notices.length = 0;
    const runner = join(cacheDir, "node_modules", "some-runner", "cli.js");
    expect(isPackageScript(runner)).toBe(true);
    expect(isPackageScript(shipFixture("hello.ts"))).toBe(false);
    const program = await prepareProgram(choice(runner, "auto"), options());
    expect(program).toMatchObject({ entry: runner, bundled: false });
    expect(notices).toEqual([]);
  });
});
