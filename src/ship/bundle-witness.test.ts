/**
 * Witnesses of bundles: they hold while nothing the bundler read has changed, and fail for each kind of
 * change that could make a different bundle: a source's content, an entry added where an import could
 * resolve to it, a package.json, a tsconfig and what it extends, a node_modules folder appearing above
 * the program. Busy folders above the program's root do not matter otherwise.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isKind } from "../errors.ts";
import { lastChangeMs, witnessHolds, witnessOf, type Witness } from "./bundle-witness.ts";

describe("bundle witnesses", () => {
  let outer: string;
  let root: string;
  let inputs: string[];
  let witness: Witness;

  beforeEach(async () => {
    outer = mkdtempSync(join(tmpdir(), "bigmachine-witness-"));
    root = join(outer, "app");
    mkdirSync(join(root, "lib"), { recursive: true });
    writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ extends: "./base.json" }));
    writeFileSync(join(root, "base.json"), JSON.stringify({ compilerOptions: { strict: true } }));
    writeFileSync(join(root, "main.ts"), 'import { lib } from "./lib";\nconsole.log(lib);\n');
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "one";\n');
    inputs = [join(root, "main.ts"), join(root, "lib", "index.ts")];
    witness = await witnessOf(inputs, root);
  });

  afterEach(() => {
    rmSync(outer, { recursive: true, force: true });
  });

  it("holds while nothing changed", async () => {
    expect(await witnessHolds(witness)).toBe(true);
    expect(Object.keys(witness.files)).toEqual(expect.arrayContaining([...inputs, join(root, "package.json"), join(root, "tsconfig.json"), join(root, "base.json")]));
  });

  it("fails when a source's content changes, and holds again when it is restored", async () => {
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "two";\n');
    expect(await witnessHolds(witness)).toBe(false);
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "one";\n');
    expect(await witnessHolds(witness)).toBe(true);
  });

  it("fails when a file appears that an import could now resolve to", async () => {
    writeFileSync(join(root, "lib.ts"), 'export const lib = "shadow";\n');
    expect(await witnessHolds(witness)).toBe(false);
  });

  it("fails when package.json, tsconfig.json or what it extends changes", async () => {
    for (const [file, text] of [
      ["package.json", JSON.stringify({ type: "commonjs" })],
      ["tsconfig.json", JSON.stringify({ extends: "./base.json", compilerOptions: { experimentalDecorators: true } })],
      ["base.json", JSON.stringify({ compilerOptions: { strict: false } })],
    ]) {
      const before = await witnessOf(inputs, root);
      writeFileSync(join(root, file), text);
      expect(await witnessHolds(before), file).toBe(false);
    }
  });

  it("fails when a node_modules folder or a config file appears above the program, and ignores anything else there", async () => {
    writeFileSync(join(outer, "notes.txt"), "busy folders above the root do not matter\n");
    expect(await witnessHolds(witness)).toBe(true);
    mkdirSync(join(outer, "node_modules"));
    expect(await witnessHolds(witness)).toBe(false);
    rmSync(join(outer, "node_modules"), { recursive: true });
    expect(await witnessHolds(witness)).toBe(true);
    writeFileSync(join(outer, "tsconfig.json"), "{}");
    expect(await witnessHolds(witness)).toBe(false);
  });

  it("fails when a source is gone", async () => {
    rmSync(join(root, "lib", "index.ts"));
    expect(await witnessHolds(witness)).toBe(false);
  });

  it("cannot be made when a tsconfig extends something missing, or a source cannot be read", async () => {
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ extends: "@no-such-scope/no-such-config" }));
    const err = await witnessOf(inputs, root).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, "not-exist")).toBe(true);
    expect((err as Error).message).toContain("@no-such-scope/no-such-config");
    writeFileSync(join(root, "tsconfig.json"), "{}");
    expect(isKind(await witnessOf([...inputs, join(root, "gone.ts")], root).catch((e: unknown) => e), "not-exist")).toBe(true);
  });

  it("reports the latest change to anything it records", async () => {
    const before = await lastChangeMs(witness);
    expect(before).toBeGreaterThan(0);
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, "base.json"), later, later);
    expect(await lastChangeMs(witness)).toBeGreaterThanOrEqual(later.getTime() - 1);
  });
});
