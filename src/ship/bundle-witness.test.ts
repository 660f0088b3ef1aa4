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
import { thrown } from "../../test/helpers.ts";

describe("bundle witnesses", () => {
  let outer: string;
  let root: string;
  let inputs: string[];
  let witness: Witness;

  beforeEach(() => {
    outer = mkdtempSync(join(tmpdir(), "bigmachine-witness-"));
    root = join(outer, "app");
    mkdirSync(join(root, "lib"), { recursive: true });
    writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ extends: "./base.json" }));
    writeFileSync(join(root, "base.json"), JSON.stringify({ compilerOptions: { strict: true } }));
    writeFileSync(join(root, "main.ts"), 'import { lib } from "./lib";\nconsole.log(lib);\n');
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "one";\n');
    inputs = [join(root, "main.ts"), join(root, "lib", "index.ts")];
    witness = witnessOf(inputs, root);
  });

  afterEach(() => {
    rmSync(outer, { recursive: true, force: true });
  });

  it("holds while nothing changed", () => {
    expect(witnessHolds(witness)).toBe(true);
    expect(Object.keys(witness.files)).toEqual(expect.arrayContaining([...inputs, join(root, "package.json"), join(root, "tsconfig.json"), join(root, "base.json")]));
  });

  it("fails when a source's content changes, and holds again when it is restored", () => {
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "two";\n');
    expect(witnessHolds(witness)).toBe(false);
    writeFileSync(join(root, "lib", "index.ts"), 'export const lib = "one";\n');
    expect(witnessHolds(witness)).toBe(true);
  });

  it("holds for a file touched but not changed, and fails for one changed behind a kept time", () => {
    const lib = join(root, "lib", "index.ts");
    const later = new Date(Date.now() + 60_000);
    utimesSync(lib, later, later);
    expect(witnessHolds(witness)).toBe(true);
    // The same size and the recorded time put back: only the inode would tell, so it is a new file.
    const recorded = witness.files[lib]!.stat.split(":");
    rmSync(lib);
    writeFileSync(lib, 'export const lib = "ONE";\n');
    const mtime = new Date(Number(BigInt(recorded[1]) / 1_000_000n));
    utimesSync(lib, mtime, mtime);
    expect(witnessHolds(witness)).toBe(false);
  });

  it("fails when a file appears that an import could now resolve to", () => {
    writeFileSync(join(root, "lib.ts"), 'export const lib = "shadow";\n');
    expect(witnessHolds(witness)).toBe(false);
  });

  it("fails when package.json, tsconfig.json or what it extends changes", () => {
    for (const [file, text] of [
      ["package.json", JSON.stringify({ type: "commonjs" })],
      ["tsconfig.json", JSON.stringify({ extends: "./base.json", compilerOptions: { experimentalDecorators: true } })],
      ["base.json", JSON.stringify({ compilerOptions: { strict: false } })],
    ]) {
      const before = witnessOf(inputs, root);
      writeFileSync(join(root, file), text);
      expect(witnessHolds(before), file).toBe(false);
    }
  });

  it("fails when a node_modules folder or a config file appears above the program, and ignores anything else there", () => {
    writeFileSync(join(outer, "notes.txt"), "busy folders above the root do not matter\n");
    expect(witnessHolds(witness)).toBe(true);
    mkdirSync(join(outer, "node_modules"));
    expect(witnessHolds(witness)).toBe(false);
    rmSync(join(outer, "node_modules"), { recursive: true });
    expect(witnessHolds(witness)).toBe(true);
    writeFileSync(join(outer, "tsconfig.json"), "{}");
    expect(witnessHolds(witness)).toBe(false);
  });

  it("fails when a source is gone", () => {
    rmSync(join(root, "lib", "index.ts"));
    expect(witnessHolds(witness)).toBe(false);
  });

  it("cannot be made when a tsconfig extends something missing, or a source cannot be read", () => {
    writeFileSync(join(root, "tsconfig.json"), JSON.stringify({ extends: "@no-such-scope/no-such-config" }));
    const err = thrown(() => witnessOf(inputs, root));
    expect(isKind(err, "not-exist")).toBe(true);
    expect((err as Error).message).toContain("@no-such-scope/no-such-config");
    writeFileSync(join(root, "tsconfig.json"), "{}");
    expect(isKind(thrown(() => witnessOf([...inputs, join(root, "gone.ts")], root)), "not-exist")).toBe(true);
  });

  it("reports the latest change to anything it records", () => {
    const before = lastChangeMs(witness);
    expect(before).toBeGreaterThan(0);
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, "base.json"), later, later);
    expect(lastChangeMs(witness)).toBeGreaterThanOrEqual(later.getTime() - 1);
  });
});
