/**
 * Driver-only modules are left out of shipped programs: a dynamic import of one costs nothing until a
 * driver evaluates it, and evaluating the stand-in in a bundle fails with a message naming the module.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleProgram } from "./bundle.ts";
import { DRIVER_ONLY_PRAGMA, isDriverOnly, mayBeDriverOnly } from "./driver-only.ts";

const run = promisify(execFile);

describe("driver-only modules in a shipped program", () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-driver-only-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(dir, "driver.ts"), `${DRIVER_ONLY_PRAGMA}\nexport const marker = "only-the-driver-needs-${"x".repeat(64)}";\n`);
    writeFileSync(join(dir, "shared.ts"), `export const shared = "machines need this";\n`);
    writeFileSync(
      join(dir, "main.ts"),
      [
        'import { shared } from "./shared.ts";',
        "console.log(shared);",
        'if (process.env.AS_DRIVER) console.log((await import("./driver.ts")).marker);',
      ].join("\n"),
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("recognises the marker only as the first line", () => {
    expect(isDriverOnly(join(dir, "driver.ts"))).toBe(true);
    expect(isDriverOnly(join(dir, "shared.ts"))).toBe(false);
    expect(isDriverOnly(join(dir, "missing.ts"))).toBe(false);
  });

  it("leaves them out of the bundle, which runs as a machine, and fails with their name if a driver path reaches them", async () => {
    const bundle = await bundleProgram({ entry: join(dir, "main.ts"), cache: false });
    const text = Buffer.from(bundle.code).toString("utf8");
    expect(text).toContain("machines need this");
    expect(text).not.toContain("only-the-driver-needs");
    const file = join(dir, "bundle.mjs");
    writeFileSync(file, bundle.code);
    expect((await run(process.execPath, [file])).stdout).toBe("machines need this\n");
    const err = await run(process.execPath, [file], { env: { ...process.env, AS_DRIVER: "1" } }).then(() => undefined, (e: { stderr: string }) => e);
    expect(err?.stderr).toMatch(/driver\.ts is driver-only and left out of shipped programs; import it with `await import\(\)`/);
  });

  it("reads the marker in bigmachine's own files when it is an installed package, and in no other package's", async () => {
    const packages = join(dir, "installed");
    for (const name of ["bigmachine", "other"]) {
      mkdirSync(join(packages, "node_modules", name), { recursive: true });
      writeFileSync(join(packages, "node_modules", name, "package.json"), JSON.stringify({ name, type: "module", exports: "./index.js" }));
      writeFileSync(join(packages, "node_modules", name, "index.js"), `${DRIVER_ONLY_PRAGMA}\nexport const marker = "${name}-driver-side-${"y".repeat(64)}";\n`);
    }
    writeFileSync(join(packages, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(packages, "main.js"), 'if (process.env.AS_DRIVER) console.log((await import("bigmachine")).marker, (await import("other")).marker);\n');
    const bundle = await bundleProgram({ entry: join(packages, "main.js"), cache: false });
    const text = Buffer.from(bundle.code).toString("utf8");
    expect(text).not.toContain("bigmachine-driver-side");
    expect(text).toContain("node_modules/bigmachine/index.js is driver-only");
    expect(text).toContain("other-driver-side");
    expect(mayBeDriverOnly(join(packages, "node_modules", "bigmachine", "node_modules", "dep", "index.js"))).toBe(false);
  });

  it("keeps the Cloud Run driver side and the emulators out of a program that starts bigmachine", async () => {
    const bundle = await bundleProgram({ entry: new URL("../../test/cloudrun/fixtures/conformance-program.ts", import.meta.url).pathname, cache: false });
    const text = Buffer.from(bundle.code).toString("utf8");
    expect(text).toContain("src/systems/cloudrun/system.ts is driver-only");
    // The Google clients stay out: the bundle is a fraction of their size.
    expect(text).not.toContain("google.cloud.run.v2.Services");
    expect(bundle.bytes).toBeLessThan(2 * 1024 * 1024);
  });
});
