/**
 * Bundling a program for shipping: the bundle is one file that runs under plain node and does what the
 * source does, it is the same for the same sources, it is made once per process and entry, and programs
 * that cannot travel as one file get a typed error that says why and what to do instead.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { isAbsolute, join, sep } from "node:path";
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
    // The dependency travelled inside the bundle; its native accelerator's loader did not.
    expect(text).toContain("node_modules/msgpackr/");
    expect(text).toContain("node-gyp-build-optional-packages cannot load native addons from a bundle");
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

  it("lists the files it bundled, by absolute path", () => {
    for (const name of ["hello.ts", "shapes.ts", "cjs-helper.cjs"]) expect(hello.inputs).toContain(fixture(name));
    expect(hello.inputs.some((input) => input.includes(`${sep}node_modules${sep}msgpackr${sep}`))).toBe(true);
    expect(hello.inputs.every((input) => isAbsolute(input) && existsSync(input))).toBe(true);
  });

  it("with a source map, is the same code followed by a map under which stack traces name the program's files", async () => {
    const shipped = await bundleProgram({ entry: fixture("stack.ts"), cache: false });
    const mapped = await bundleProgram({ entry: fixture("stack.ts"), sourceMap: true, cache: false });
    const text = Buffer.from(mapped.code).toString("utf8");
    const comment = text.lastIndexOf("//# sourceMappingURL=data:application/json;base64,");
    expect(comment).toBeGreaterThan(0);
    expect(text.slice(0, comment)).toBe(Buffer.from(shipped.code).toString("utf8"));
    expect(mapped.digest).not.toBe(shipped.digest);
    // The map names files, not their contents.
    const map = JSON.parse(Buffer.from(text.slice(comment).split(",")[1], "base64").toString("utf8")) as { sourcesContent?: unknown };
    expect(map.sourcesContent).toBeUndefined();

    // Run from a folder away from the sources, as the local system runs it from its cache.
    const file = join(dir, "stack.mjs");
    writeFileSync(file, mapped.code);
    const withMaps = await run(process.execPath, ["--enable-source-maps", file], { cwd: dir });
    expect(withMaps.stdout).toContain(`${fixture("stack.ts")}:6:`);
    const without = await run(process.execPath, [file], { cwd: dir });
    expect(without.stdout).not.toContain("stack.ts");
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
