import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rejection } from "../../../test/helpers.ts";
import { start } from "../../start.ts";
import { foreignEntryOwner } from "../../ship/foreign-entry.ts";
import { LocalSystem } from "./local-system.ts";
import { childPids } from "../../../test/local/helpers.ts";

const root = mkdtempSync(path.join(tmpdir(), "bigmachine-foreign-entry-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes `files` (relative path to content) under the test's folder; returns the absolute path of `entry`. */
function layout(files: Record<string, string | object>, entry: string): string {
  for (const [file, content] of Object.entries(files)) {
    const at = path.join(root, file);
    mkdirSync(path.dirname(at), { recursive: true });
    writeFileSync(at, typeof content === "string" ? content : JSON.stringify(content));
  }
  return path.join(root, entry);
}

describe("the driver's entry script", () => {
  it("is the driver's program when it lies outside node_modules", () => {
    expect(foreignEntryOwner(layout({ "app/driver.mjs": "", "app/package.json": { name: "app" } }, "app/driver.mjs"))).toBeUndefined();
  });

  it("belongs to a tool when it is a script of a package that does not depend on bigmachine", () => {
    const entry = layout(
      { "app/node_modules/runner/package.json": { name: "runner", bin: "cli.mjs" }, "app/node_modules/runner/dist/esm/package.json": { type: "module" }, "app/node_modules/runner/dist/esm/worker.js": "" },
      "app/node_modules/runner/dist/esm/worker.js",
    );
    expect(foreignEntryOwner(entry)).toBe("runner");
  });

  it("names a scoped package, and one without a manifest by its folder", () => {
    expect(foreignEntryOwner(layout({ "app/node_modules/@acme/test/package.json": { name: "@acme/test" }, "app/node_modules/@acme/test/bin.js": "" }, "app/node_modules/@acme/test/bin.js"))).toBe("@acme/test");
    expect(foreignEntryOwner(layout({ "app/node_modules/bare/run.js": "" }, "app/node_modules/bare/run.js"))).toBe("bare");
  });

  it("is the driver's program when its package is built on bigmachine, but not bigmachine's own command", () => {
    const tool = layout({ "app/node_modules/pi-tool/package.json": { name: "pi-tool", dependencies: { bigmachine: "^0.1.0" } }, "app/node_modules/pi-tool/bin/pi.js": "" }, "app/node_modules/pi-tool/bin/pi.js");
    expect(foreignEntryOwner(tool)).toBeUndefined();
    const own = layout({ "app/node_modules/bigmachine/package.json": { name: "bigmachine", dependencies: { hono: "4" } }, "app/node_modules/bigmachine/bin/bigmachine.js": "" }, "app/node_modules/bigmachine/bin/bigmachine.js");
    expect(foreignEntryOwner(own)).toBe("bigmachine");
  });

  it("is judged where a link leads: a command linked from node_modules/.bin is its package's", () => {
    const target = layout({ "app/node_modules/runner/package.json": { name: "runner" }, "app/node_modules/runner/cli.mjs": "" }, "app/node_modules/runner/cli.mjs");
    mkdirSync(path.join(root, "app/node_modules/.bin"), { recursive: true });
    const link = path.join(root, "app/node_modules/.bin/runner");
    symlinkSync(target, link);
    expect(foreignEntryOwner(link)).toBe("runner");
  });

  it("refuses to start machines under a test runner without a program, naming the option", async () => {
    // This very process is such a driver: its entry script is the test runner's.
    expect(foreignEntryOwner(process.argv[1]!)).toBe("vitest");
    const before = childPids();
    const session = await start({ system: new LocalSystem({ output: false }) });
    try {
      const err = await rejection(session.startMachines(1));
      expect(err.kind).toBe("invalid");
      expect(err.severity).toBe("fatal");
      expect(err.message).toContain("belongs to vitest");
      expect(err.message).toContain("new LocalSystem({ program:");
      expect(childPids()).toEqual(before);
    } finally {
      await session.shutdown();
    }
  });

  it("starts machines under a test runner when the program is named", async () => {
    const system = new LocalSystem({ program: { entry: layout({ "named/program.mjs": "" }, "named/program.mjs") }, output: false, startupTimeoutMs: 100 });
    const session = await start({ system });
    try {
      // The named program is not refused; it only never answers (it does not call start()).
      const [m] = await session.startMachines(1);
      await m.waitFor("stopped");
      expect(m.err?.message).toMatch(/did not report its address|exited/);
    } finally {
      await session.shutdown();
    }
  });
});
