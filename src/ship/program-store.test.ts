/**
 * The worker's program store: digest-checked, atomic writes, digests validated before they touch a
 * path, and a bound on how many programs it keeps, least recently used out first. Its programs are
 * re-hashed before they are handed out to run, and its folder is private to its user.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BigmachineError } from "../errors.ts";
import { programDigest } from "./digest.ts";
import { ProgramStore } from "./program-store.ts";
import { rejection } from "../../test/helpers.ts";

function thrown(f: () => unknown): BigmachineError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(BigmachineError);
    return err as BigmachineError;
  }
  throw new Error("expected a throw");
}

function program(text: string): { code: Uint8Array; digest: string } {
  const code = new TextEncoder().encode(`console.log(${JSON.stringify(text)});\n`);
  return { code, digest: programDigest(code) };
}

describe("ProgramStore", () => {
  let root: string;
  let dir: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "bigmachine-programs-"));
    dir = join(root, "programs");
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it("stores a program under its digest and finds it again", async () => {
    const store = new ProgramStore(dir);
    const a = program("a");
    expect(store.has(a.digest)).toBe(false);
    expect(thrown(() => store.pathOf(a.digest)).kind).toBe("not-exist");
    const file = await store.put(a.code, a.digest);
    expect(file).toBe(join(dir, `${a.digest.slice("sha256:".length)}.mjs`));
    expect(readFileSync(file).equals(Buffer.from(a.code))).toBe(true);
    expect(store.has(a.digest)).toBe(true);
    expect(store.pathOf(a.digest)).toBe(file);
    expect(store.digests()).toEqual([a.digest]);
    // Storing it again is only a use.
    expect(await store.put(a.code, a.digest)).toBe(file);
    expect(readdirSync(dir)).toEqual([`${a.digest.slice("sha256:".length)}.mjs`]);
    // Another store on the same folder sees it.
    expect(new ProgramStore(dir).has(a.digest)).toBe(true);
  });

  it("refuses a program whose bytes do not match its digest, writing nothing", async () => {
    const store = new ProgramStore(dir);
    const a = program("a");
    const b = program("b");
    const err = await rejection(store.put(a.code, b.digest));
    expect(err.kind).toBe("invalid");
    expect(err.severity).toBe("fatal");
    expect(err.message).toContain(b.digest);
    expect(err.message).toContain(a.digest);
    expect(readdirSync(dir)).toEqual([]);
    expect(store.has(b.digest)).toBe(false);
  });

  it("validates digests before they become paths", async () => {
    const store = new ProgramStore(dir);
    const a = program("a");
    const hex = a.digest.slice("sha256:".length);
    const bad = [
      "sha256:../../../etc/passwd",
      `sha256:../${hex.slice(3)}`,
      `sha256:${hex}/../x`,
      `sha256:${hex.toUpperCase()}`,
      `sha512:${hex}`,
      hex,
      `sha256:${hex}0`,
      "",
    ];
    for (const digest of bad) {
      expect(thrown(() => store.has(digest)).kind, digest).toBe("invalid");
      expect(thrown(() => store.pathOf(digest)).kind, digest).toBe("invalid");
      expect((await rejection(store.put(a.code, digest))).kind, digest).toBe("invalid");
    }
    expect(readdirSync(root)).toEqual(["programs"]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("writes atomically: a reader never sees a partial program, and no temporary file is left", async () => {
    const store = new ProgramStore(dir);
    const code = randomBytes(24 << 20);
    const digest = programDigest(code);
    const file = join(dir, `${digest.slice("sha256:".length)}.mjs`);
    const seen = { partial: 0, complete: 0, temp: 0 };
    let done = false;
    // Look at the folder between the writer's steps, as another process would.
    const watching = (async () => {
      while (!done) {
        if (readdirSync(dir).some((name) => name.endsWith(".tmp"))) seen.temp++;
        if (existsSync(file)) {
          if (statSync(file).size === code.length) seen.complete++;
          else seen.partial++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await store.put(code, digest);
    done = true;
    await watching;
    expect(seen.partial).toBe(0);
    expect(seen.temp).toBeGreaterThan(0);
    expect(readFileSync(file).equals(code)).toBe(true);
    expect(readdirSync(dir)).toEqual([`${digest.slice("sha256:".length)}.mjs`]);
  });

  it("removes temporary files left by a writer that died, and only those", () => {
    const hex = program("a").digest.slice("sha256:".length);
    new ProgramStore(dir);
    const stale = join(dir, `.${hex}.4242.abcdef.tmp`);
    const fresh = join(dir, `.${hex}.4243.abcdef.tmp`);
    writeFileSync(stale, "partial");
    writeFileSync(fresh, "partial");
    const hourAgo = Date.now() / 1000 - 3600;
    utimesSync(stale, hourAgo, hourAgo);
    const store = new ProgramStore(dir);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(store.digests()).toEqual([]);
  });

  it("keeps at most maxPrograms, evicting the least recently used, across reopenings", async () => {
    const store = new ProgramStore(dir, { maxPrograms: 2 });
    const [a, b, c, d] = ["a", "b", "c", "d"].map(program);
    await store.put(a.code, a.digest);
    await store.put(b.code, b.digest);
    expect(store.pathOf(a.digest)).toContain(a.digest.slice("sha256:".length));
    await store.put(c.code, c.digest);
    expect(store.has(b.digest)).toBe(false);
    expect(store.digests()).toEqual([c.digest, a.digest]);
    // A store opened later on the same folder knows the order from the files.
    const reopened = new ProgramStore(dir, { maxPrograms: 2 });
    expect(reopened.digests()).toEqual([c.digest, a.digest]);
    await reopened.put(d.code, d.digest);
    expect(reopened.digests()).toEqual([d.digest, c.digest]);
    expect(readdirSync(dir).length).toBe(2);
  });

  it("refuses a bound that is not a positive integer", () => {
    expect(thrown(() => new ProgramStore(dir, { maxPrograms: 0 })).kind).toBe("invalid");
    expect(thrown(() => new ProgramStore(dir, { maxPrograms: 1.5 })).kind).toBe("invalid");
  });

  describe("trusts nothing on disk", () => {
    /** Changes a stored program behind the store's back, as anything else writing to its folder could. */
    function tamper(file: string): void {
      chmodSync(file, 0o600);
      writeFileSync(file, 'console.log("not the shipped program");\n');
    }

    it("re-hashes a program before handing it out to run: a changed file is removed, not run", async () => {
      const store = new ProgramStore(dir);
      const a = program("a");
      const file = await store.put(a.code, a.digest);
      expect(await store.verifiedPath(a.digest)).toBe(file);
      tamper(file);
      const err = await rejection(store.verifiedPath(a.digest));
      expect(err.kind).toBe("not-exist");
      expect(err.message).toMatch(/does not match its digest/);
      expect(existsSync(file)).toBe(false);
      expect(store.has(a.digest)).toBe(false);
      expect((await rejection(store.verifiedPath(program("never stored").digest))).kind).toBe("not-exist");
      expect((await rejection(store.verifiedPath("sha256:../x"))).kind).toBe("invalid");
    });

    it("overwrites a changed file when the right bytes are stored again", async () => {
      const store = new ProgramStore(dir);
      const a = program("a");
      const file = await store.put(a.code, a.digest);
      tamper(file);
      expect(await store.put(a.code, a.digest)).toBe(file);
      expect(readFileSync(file).equals(Buffer.from(a.code))).toBe(true);
      expect(await store.verifiedPath(a.digest)).toBe(file);
    });

    it("creates its folder readable and writable by its user only", () => {
      new ProgramStore(join(dir, "nested"));
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, "nested")).mode & 0o777).toBe(0o700);
    });

    it("refuses a folder others may write to", () => {
      for (const mode of [0o777, 0o770, 0o702]) {
        mkdirSync(dir, { recursive: true });
        chmodSync(dir, mode);
        const err = thrown(() => new ProgramStore(dir));
        expect(err.kind, mode.toString(8)).toBe("precondition");
        expect(err.message).toMatch(/writable by/);
      }
    });

    it("refuses a folder owned by another user", () => {
      const uid = process.getuid?.();
      if (uid === undefined) return; // no users to tell apart on this platform
      let foreign = "/";
      if (uid === 0) {
        // As root, make one: a folder handed to the conventional unprivileged user.
        foreign = join(root, "foreign");
        mkdirSync(foreign, { mode: 0o755 });
        chownSync(foreign, 65534, 65534);
      }
      expect(statSync(foreign).uid).not.toBe(uid);
      const err = thrown(() => new ProgramStore(foreign));
      expect(err.kind).toBe("precondition");
      expect(err.message).toMatch(/owned by/);
    });
  });
});
