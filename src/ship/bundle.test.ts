/**
 * Bundling a program for shipping: the bundle is one file that runs under plain node and does what the
 * source does, it is the same for the same sources, it is made once per process and entry, and programs
 * that cannot travel as one file get a typed error that says why and what to do instead.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BigmachineError } from "../errors.ts";
import { bundleProgram, type ProgramBundle } from "./bundle.ts";
import { programDigest } from "./digest.ts";
import { rejection } from "../../test/helpers.ts";

const run = promisify(execFile);

function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

const EXPECTED_HELLO = [
  "hello from a bundled program",
  'cjs: {"requireWorks":true,"dirnameAbsolute":true,"filenameInDirname":true}',
  'msgpack: {"a":[1,2,3]}',
  "names: Point Point",
  "top-level await: 42",
  "",
].join("\n");

describe("bundleProgram", () => {
  let dir: string;
  let hello: ProgramBundle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-bundle-"));
    hello = await bundleProgram({ entry: fixture("hello.ts"), cache: false });
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("makes one file that imports nothing but node's built-ins", () => {
    expect(hello.entry).toBe(fixture("hello.ts"));
    expect(hello.bytes).toBe(hello.code.byteLength);
    expect(hello.digest).toBe(programDigest(hello.code));
    expect(hello.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const text = Buffer.from(hello.code).toString("utf8");
    const specifiers = [...text.matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gm), ...text.matchAll(/^import\s+"([^"]+)"/gm)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !isBuiltin(s))).toEqual([]);
    // The dependency travelled inside the bundle.
    expect(text).toContain("node_modules/msgpackr/");
  });

  it("runs under plain node and prints what the source prints under tsx", async () => {
    const file = join(dir, "hello.mjs");
    writeFileSync(file, hello.code);
    const bundled = await run(process.execPath, [file], { cwd: dir });
    expect(bundled.stdout).toBe(EXPECTED_HELLO);
    const source = await run(process.execPath, ["--import", "tsx", fixture("hello.ts")]);
    expect(source.stdout).toBe(bundled.stdout);
  });

  it("gives the same bytes and digest for the same sources, and bundles once per process and entry", async () => {
    const again = await bundleProgram({ entry: fixture("hello.ts"), cache: false });
    expect(again.digest).toBe(hello.digest);
    expect(Buffer.from(again.code).equals(Buffer.from(hello.code))).toBe(true);
    const first = await bundleProgram({ entry: fixture("hello.ts") });
    expect(first.digest).toBe(hello.digest);
    expect(await bundleProgram({ entry: fixture("hello.ts") })).toBe(first);
  });

  it("refuses a program that loads a native addon, naming the addon and the way out", async () => {
    const err = await rejection(bundleProgram({ entry: fixture("native.mjs") }));
    expect(err.kind).toBe("not-supported");
    expect(err.severity).toBe("fatal");
    expect(err.message).toContain("cannot ship");
    expect(err.message).toContain("native addon");
    expect(err.message).toContain("fake-addon.node");
    expect(err.message).toContain("worker image");
    expect(err.message).toContain("cloudbuild.yaml");
  });

  it("refuses a program that imports a missing package, naming the package and where it is imported", async () => {
    const err = await rejection(bundleProgram({ entry: fixture("missing.mjs") }));
    expect(err.kind).toBe("not-supported");
    expect(err.message).toContain('Could not resolve "bigmachine-fixture-missing-package"');
    expect(err.message).toMatch(/missing\.mjs:2:\d+: /);
    expect(err.message).toContain("worker image");
    // A failure is not remembered: the next call bundles again (and fails again, the same way).
    const again = await rejection(bundleProgram({ entry: fixture("missing.mjs") }));
    expect(again).not.toBe(err);
    expect(again.message).toBe(err.message);
  });

  it("refuses an entry that is not a file, or none at all", async () => {
    expect((await rejection(bundleProgram({ entry: fixture("no-such-program.ts") }))).kind).toBe("not-exist");
    expect((await rejection(bundleProgram({ entry: "" }))).kind).toBe("invalid");
  });
});
