/**
 * @module
 * The worker side of shipping: a bounded cache of shipped programs in one folder of the instance's file
 * system, named by digest. A program is stored only after its bytes are checked against its digest, and
 * written atomically (a temporary file renamed into place), so a reader never sees a partial program.
 * Digests are validated before they become part of a path. At most `maxPrograms` programs are kept; the
 * least recently used (stored or looked up with `pathOf`) go first.
 *
 * Recency lives in this process and in each file's modification time (set on every use), so a store
 * reopened on the same folder, or another process sharing it, keeps the same order.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, statSync, unlinkSync, utimesSync, existsSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { errorOf } from "../errors.ts";
import { digestHex, programDigest } from "./digest.ts";

/** How many programs a store keeps when not told otherwise. */
export const DEFAULT_MAX_PROGRAMS = 4;

/** Temporary files older than this are leftovers of a writer that died; younger ones may be in flight. */
const STALE_TEMP_MS = 10 * 60_000;

const PROGRAM_FILE = /^([0-9a-f]{64})\.mjs$/;
const TEMP_FILE = /^\.[0-9a-f]{64}\.[0-9]+\.[0-9a-f]+\.tmp$/;

/** Options for {@link ProgramStore}. */
export interface ProgramStoreOptions {
  /** The most programs kept at once (a positive integer); default {@link DEFAULT_MAX_PROGRAMS}. */
  maxPrograms?: number;
}

/** A digest-checked, bounded cache of shipped programs in a folder; one `<hex>.mjs` file per program. */
export class ProgramStore {
  /** The folder programs are kept in. */
  readonly dir: string;
  /** The most programs kept at once. */
  readonly maxPrograms: number;
  /** Last use of each program this process stored or looked up, by hex digest. */
  readonly #lastUse = new Map<string, number>();
  #clock = 0;

  /**
   * Opens (creating it if needed) the store in `dir` and removes temporary files left by writers that
   * died. Throws kind `invalid` for a `maxPrograms` that is not a positive integer.
   */
  constructor(dir: string, options: ProgramStoreOptions = {}) {
    const maxPrograms = options.maxPrograms ?? DEFAULT_MAX_PROGRAMS;
    if (!Number.isInteger(maxPrograms) || maxPrograms < 1) {
      throw errorOf("invalid", `maxPrograms must be a positive integer, got ${maxPrograms}`, { severity: "fatal" });
    }
    this.dir = path.resolve(dir);
    this.maxPrograms = maxPrograms;
    mkdirSync(this.dir, { recursive: true });
    this.#removeStaleTemps();
    // Uses from now on come after every use recorded in the files, even ones stamped ahead of the clock.
    this.#clock = Math.max(0, ...this.#held().map((p) => p.lastUse));
  }

  /** Digests of the programs held, most recently used first. */
  digests(): string[] {
    return this.#held().map(({ hex }) => `sha256:${hex}`);
  }

  /** Whether the program with `digest` is held. Throws kind `invalid` for a malformed digest. */
  has(digest: string): boolean {
    return existsSync(this.#fileOf(digestHex(digest)));
  }

  /**
   * The file of the held program with `digest`, counted as a use. Throws kind `invalid` for a malformed
   * digest and `not-exist` when the program is not held (never stored, or evicted).
   */
  pathOf(digest: string): string {
    const hex = digestHex(digest);
    const file = this.#fileOf(hex);
    if (!existsSync(file)) throw errorOf("not-exist", `program ${digest} is not held in ${this.dir}`, { severity: "fatal" });
    this.#markUsed(hex);
    return file;
  }

  /**
   * Stores `code` as the program with `digest` and resolves with its file, after checking that `digest`
   * is well formed (kind `invalid`) and is the SHA-256 of `code` (kind `invalid`; nothing is written).
   * Storing a program already held only counts as a use. Then evicts the least recently used programs
   * beyond `maxPrograms`. Rejects with kind `other` when the file system fails (e.g. the disk is full).
   */
  async put(code: Uint8Array, digest: string): Promise<string> {
    const hex = digestHex(digest);
    const actual = programDigest(code);
    if (actual !== digest) {
      throw errorOf("invalid", `the program does not match its digest: expected ${digest}, its ${code.byteLength} bytes hash to ${actual}; nothing was stored`, { severity: "fatal" });
    }
    const file = this.#fileOf(hex);
    if (!existsSync(file)) await this.#writeAtomically(file, hex, code);
    this.#markUsed(hex);
    this.#evict(hex);
    return file;
  }

  #fileOf(hex: string): string {
    return path.join(this.dir, `${hex}.mjs`);
  }

  async #writeAtomically(file: string, hex: string, code: Uint8Array): Promise<void> {
    const temp = path.join(this.dir, `.${hex}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      const handle = await open(temp, "wx");
      try {
        await handle.writeFile(code);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw errorOf("other", `could not store program sha256:${hex} in ${this.dir}: ${(err as Error).message}`, { severity: "unknown", cause: err });
    }
  }

  /** Records a use now, strictly after every earlier use in this process, in memory and in the file's mtime. */
  #markUsed(hex: string): void {
    const stamp = Math.max(Date.now(), this.#clock + 1);
    this.#clock = stamp;
    this.#lastUse.set(hex, stamp);
    try {
      utimesSync(this.#fileOf(hex), stamp / 1000, stamp / 1000);
    } catch {
      // Best effort: the in-memory stamp still orders this process's uses.
    }
  }

  /** Programs in the folder with their last use, most recent first. */
  #held(): { hex: string; lastUse: number }[] {
    const held: { hex: string; lastUse: number }[] = [];
    for (const name of readdirSync(this.dir)) {
      const hex = PROGRAM_FILE.exec(name)?.[1];
      if (!hex) continue;
      try {
        // The later of the two: a coarse file system clock may round the file's time down.
        held.push({ hex, lastUse: Math.max(this.#lastUse.get(hex) ?? 0, statSync(this.#fileOf(hex)).mtimeMs) });
      } catch {
        // Removed while we looked.
      }
    }
    return held.sort((a, b) => b.lastUse - a.lastUse);
  }

  #evict(keep: string): void {
    const held = this.#held();
    let kept = held.some((p) => p.hex === keep) ? 1 : 0;
    for (const { hex } of held) {
      if (hex === keep) continue;
      if (kept < this.maxPrograms) {
        kept++;
        continue;
      }
      this.#lastUse.delete(hex);
      try {
        unlinkSync(this.#fileOf(hex));
      } catch {
        // Already gone (another process evicted it too).
      }
    }
  }

  #removeStaleTemps(): void {
    const now = Date.now();
    for (const name of readdirSync(this.dir)) {
      if (!TEMP_FILE.test(name)) continue;
      const file = path.join(this.dir, name);
      try {
        if (now - statSync(file).mtimeMs > STALE_TEMP_MS) unlinkSync(file);
      } catch {
        // Renamed or removed by its writer meanwhile.
      }
    }
  }
}
