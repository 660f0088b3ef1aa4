/**
 * The bundle cache: a later run reuses a bundle while its sources stand, makes a new one when they
 * change, never records a bundle of sources changed just before it was made, does not run a stored
 * bundle that changed on disk, and falls back to a folder of its own when the one it is given is not
 * private.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isKind } from "../errors.ts";
import { BundleCache, defaultCacheDir, openBundleCache } from "./bundle-cache.ts";

const run = promisify(execFile);

/** Sets the times of `paths` an hour back, as for sources last edited well before a run. */
function age(...paths: string[]): void {
  const past = new Date(Date.now() - 3_600_000);
  for (const p of paths) utimesSync(p, past, past);
}

describe("the bundle cache", () => {
  let dir: string;
  let app: string;
  let cacheDir: string;
  let entry: string;

  /** Writes the program's files and ages them (unless `fresh`). */
  function writeProgram(message: string, fresh = false): void {
    writeFileSync(join(app, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(app, "message.ts"), `export const message: string = ${JSON.stringify(message)};\n`);
    writeFileSync(entry, 'import { message } from "./message.ts";\nconsole.log(message);\n');
    if (!fresh) age(join(app, "package.json"), join(app, "message.ts"), entry, app);
  }

  async function output(file: string): Promise<string> {
    return (await run(process.execPath, [file])).stdout.trim();
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-bundle-cache-"));
    app = join(dir, "app");
    cacheDir = join(dir, "cache");
    entry = join(app, "main.ts");
    mkdirSync(app);
    writeProgram("first");
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reuses a bundle in a later run while its sources stand, and makes a new one when they change", async () => {
    const made = await new BundleCache(cacheDir).bundle(entry);
    expect(made).toMatchObject({ entry, reused: false });
    expect(made.file.startsWith(join(cacheDir, "programs"))).toBe(true);
    expect(await output(made.file)).toBe("first");

    // A later run: a new cache on the same folder.
    const again = await new BundleCache(cacheDir).bundle(entry);
    expect(again).toEqual({ ...made, reused: true });

    writeProgram("second");
    const remade = await new BundleCache(cacheDir).bundle(entry);
    expect(remade.reused).toBe(false);
    expect(remade.digest).not.toBe(made.digest);
    expect(await output(remade.file)).toBe("second");
    expect((await new BundleCache(cacheDir).bundle(entry)).reused).toBe(true);
    // The manifest of the replaced bundle is gone with it or replaced: one manifest per entry.
    expect(readdirSync(join(cacheDir, "manifests")).filter((name) => name.endsWith(".json"))).toHaveLength(1);
  });

  it("does not record a bundle of sources changed just before it was made", async () => {
    writeProgram("fresh", true);
    const cache = new BundleCache(cacheDir);
    expect((await cache.bundle(entry)).reused).toBe(false);
    expect((await cache.bundle(entry)).reused).toBe(false);
    age(join(app, "package.json"), join(app, "message.ts"), entry, app);
    expect((await cache.bundle(entry)).reused).toBe(false);
    expect((await cache.bundle(entry)).reused).toBe(true);
  });

  it("does not run a stored bundle that changed on disk: it makes it again", async () => {
    const made = await new BundleCache(cacheDir).bundle(entry);
    chmodSync(made.file, 0o600);
    writeFileSync(made.file, 'console.log("tampered");\n');
    const again = await new BundleCache(cacheDir).bundle(entry);
    expect(again.reused).toBe(false);
    expect(again.digest).toBe(made.digest);
    expect(await output(again.file)).toBe("first");
  });

  it("keeps its folder private, and refuses one others can write to", () => {
    const cache = new BundleCache(cacheDir);
    expect(statSync(cache.dir).mode & 0o777).toBe(0o700);
    chmodSync(cacheDir, 0o777);
    const err = (() => {
      try {
        new BundleCache(cacheDir);
      } catch (e) {
        return e;
      }
    })();
    expect(isKind(err, "precondition")).toBe(true);
    expect((err as Error).message).toContain("the bundle cache");
  });

  it("falls back to a folder of this process's own when it cannot use the one it is given, and still bundles", async () => {
    mkdirSync(cacheDir, { mode: 0o700 });
    chmodSync(cacheDir, 0o777);
    const reasons: Error[] = [];
    const cache = openBundleCache(cacheDir, (err) => reasons.push(err));
    expect(reasons).toHaveLength(1);
    expect(reasons[0].message).toContain("writable by its group or by others");
    expect(cache.persistent).toBe(false);
    expect(cache.dir).not.toBe(cacheDir);
    try {
      const made = await cache.bundle(entry);
      expect(await output(made.file)).toBe("first");
      // Within the process, the bundle is still made once.
      expect((await cache.bundle(entry)).reused).toBe(true);
      expect(openBundleCache(cacheDir, () => {})).toBe(cache);
    } finally {
      // Removed at exit otherwise; a test process may not get to run its exit hooks.
      rmSync(cache.dir, { recursive: true, force: true });
    }
  });

  it("names a default folder per platform", () => {
    expect(defaultCacheDir({}, "linux", "/home/u")).toBe("/home/u/.cache/bigmachine");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/xdg" }, "linux", "/home/u")).toBe("/xdg/bigmachine");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "relative" }, "linux", "/home/u")).toBe("/home/u/.cache/bigmachine");
    expect(defaultCacheDir({}, "darwin", "/Users/u")).toBe("/Users/u/Library/Caches/bigmachine");
    expect(defaultCacheDir({ LOCALAPPDATA: "/appdata" }, "win32", "/u")).toBe(join("/appdata", "bigmachine", "cache"));
  });

  it("rejects as bundling does for a program that cannot be bundled", async () => {
    writeFileSync(entry, 'import "no-such-package-anywhere";\n');
    const err = await new BundleCache(cacheDir).bundle(entry).then(() => undefined, (e: unknown) => e);
    expect(isKind(err, "not-supported")).toBe(true);
  });
});
