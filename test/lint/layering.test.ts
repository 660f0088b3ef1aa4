/**
 * The layering rules of `npm run lint` (.dependency-cruiser.cjs) catch what they are for: each fixture
 * is a small tree laid out like this repository, checked with the repository's own configuration.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const CONFIG = fileURLToPath(new URL("../../.dependency-cruiser.cjs", import.meta.url));
const DEPCRUISE = fileURLToPath(new URL("../../node_modules/dependency-cruiser/bin/dependency-cruise.mjs", import.meta.url));

/** Runs the check over the fixture's `src`, as `npm run lint` does over the repository. */
async function lint(fixture: string): Promise<{ code: number; output: string }> {
  const cwd = fileURLToPath(new URL(`./fixtures/${fixture}/`, import.meta.url));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [DEPCRUISE, "--config", CONFIG, "--output-type", "err", "src"], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("the layering rules", { timeout: 90_000 }, () => {
  it("fail on a system that imports another system", async () => {
    const { code, output } = await lint("cross-system");
    expect(code).not.toBe(0);
    expect(output).toContain("systems-are-independent: src/systems/alpha/index.ts → src/systems/beta/index.ts");
  });

  it("fail on an emulator that imports the product", async () => {
    const { code, output } = await lint("emulator-import");
    expect(code).not.toBe(0);
    expect(output).toContain("emulators-stand-alone: src/emulators/index.ts → src/core.ts");
  });

  it("pass systems built on the exported core and emulators on their own", async () => {
    const { code, output } = await lint("layered");
    expect(output).toMatch(/no dependency violations found \(4 modules, 2 dependencies cruised\)/);
    expect(code).toBe(0);
  });
});
