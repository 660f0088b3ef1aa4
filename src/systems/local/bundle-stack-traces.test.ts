/**
 * The preload of bundled machines: frames in the bundle name the program's own files and lines; a
 * bundle without a readable map, and a program that formats stacks its own way, are left as they are.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleProgram } from "../../ship/bundle.ts";
import { STACK_TRACES_PRELOAD } from "./machine-program.ts";

const run = promisify(execFile);
const STACK_FIXTURE = fileURLToPath(new URL("../../ship/fixtures/stack.ts", import.meta.url));

describe("the stack-trace preload of bundled machines", () => {
  let dir: string;
  let mapped: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-stack-traces-"));
    mapped = join(dir, "mapped.mjs");
    writeFileSync(mapped, (await bundleProgram({ entry: STACK_FIXTURE, sourceMap: true })).code);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function stackOf(file: string, preloads: string[] = [STACK_TRACES_PRELOAD]): Promise<string> {
    return (await run(process.execPath, [...preloads.flatMap((p) => ["--require", p]), file], { cwd: dir })).stdout;
  }

  it("names the program's file and line for frames in the bundle", async () => {
    const stack = await stackOf(mapped);
    expect(stack).toMatch(/^Error: where am I\n/);
    expect(stack).toContain(`at whereAmI (${STACK_FIXTURE}:6:`);
    expect(stack).not.toContain("mapped.mjs");
    // Frames outside the bundle stay as node prints them.
    expect(stack).toMatch(/at .*node:internal\//);
  });

  it("leaves frames as they are when the bundle has no readable map", async () => {
    const plain = join(dir, "plain.mjs");
    writeFileSync(plain, (await bundleProgram({ entry: STACK_FIXTURE })).code);
    expect(await stackOf(plain)).toContain(`at whereAmI (file://${plain}:`);
    const garbled = join(dir, "garbled.mjs");
    writeFileSync(garbled, `${Buffer.from((await bundleProgram({ entry: STACK_FIXTURE })).code).toString("utf8")}\n//# sourceMappingURL=data:application/json;base64,bm90IGpzb24=\n`);
    expect(await stackOf(garbled)).toContain(`at whereAmI (file://${garbled}:`);
  });

  it("keeps a stack formatter that was set before it", async () => {
    const custom = join(dir, "custom.cjs");
    writeFileSync(custom, 'Error.prepareStackTrace = (error) => `custom: ${error.message}`;\n');
    expect((await stackOf(mapped, [custom, STACK_TRACES_PRELOAD])).trim()).toBe("custom: where am I");
  });
});
