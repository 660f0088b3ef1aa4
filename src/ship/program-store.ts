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
 *
 * Nothing on disk is trusted: a program is re-hashed when it is handed out to run
 * ({@link ProgramStore.verifiedPath}) and when it is stored again, and a file that no longer matches its
 * digest is removed (or overwritten with the right bytes). The folder is created readable and writable
 * by its user only, and a folder owned by another user, or writable by its group or by others, is
 * refused: whoever can write there chooses the code the next machine runs.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, statSync, unlinkSync, utimesSync, existsSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { errorOf } from "../errors.ts";
import { digestHex, programDigest } from "./digest.ts";

/** How many programs a store keeps when not told otherwise. */
export const DEFAULT_MAX_PROGRAMS = 4;

/** Temporary files older than this are leftovers of a writer that died; younger ones may be in flight. */
const STALE_TEMP_MS = 10 * 60_000;

/** The store's folder: its user's alone. */
const DIR_MODE = 0o700;
/** Stored programs: read-only, so nothing rewrites one in place by accident. */
const FILE_MODE = 0o400;

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
   * Opens (creating it, mode 0700, if needed) the store in `dir` and removes temporary files left by
   * writers that died. Throws kind `invalid` for a `maxPrograms` that is not a positive integer, and
   * kind `precondition` for a folder owned by another user or writable by its group or by others.
   */
  constructor(dir: string, options: ProgramStoreOptions = {}) {
    const maxPrograms = options.maxPrograms ?? DEFAULT_MAX_PROGRAMS;
    if (!Number.isInteger(maxPrograms) || maxPrograms < 1) {
      throw errorOf("invalid", `maxPrograms must be a positive integer, got ${maxPrograms}`, { severity: "fatal" });
    }
    this.dir = path.resolve(dir);
    this.maxPrograms = maxPrograms;
    mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
    checkPrivateFolder(this.dir);
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
   * The file of the held program with `digest`, counted as a use, without reading it. Throws kind
   * `invalid` for a malformed digest and `not-exist` when the program is not held (never stored, or
   * evicted). To run a program, use {@link verifiedPath}.
   */
  pathOf(digest: string): string {
    const hex = digestHex(digest);
    const file = this.#fileOf(hex);
    if (!existsSync(file)) throw errorOf("not-exist", `program ${digest} is not held in ${this.dir}`, { severity: "fatal" });
    this.#markUsed(hex);
    return file;
  }

  /**
   * The file of the held program with `digest`, after hashing it again: what to run. Counts as a use.
   * A file whose bytes no longer hash to `digest` is removed, and the call rejects with kind
   * `not-exist` (as for a program never stored: the driver ships it again). Rejects with kind `invalid`
   * for a malformed digest.
   */
  async verifiedPath(digest: string): Promise<string> {
    const hex = digestHex(digest);
    const file = this.#fileOf(hex);
    const actual = await fileDigest(file);
    if (actual === undefined) throw errorOf("not-exist", `program ${digest} is not held in ${this.dir}`, { severity: "fatal" });
    if (actual !== digest) {
      this.#remove(hex);
      throw errorOf("not-exist", `the stored program ${digest} does not match its digest (its file hashes to ${actual}); it was removed, not run`, { severity: "fatal" });
    }
    this.#markUsed(hex);
    return file;
  }

  /**
   * Stores `code` as the program with `digest` and resolves with its file, after checking that `digest`
   * is well formed (kind `invalid`) and is the SHA-256 of `code` (kind `invalid`; nothing is written).
   * A program already held is hashed again and only counts as a use if it still matches; otherwise it
   * is overwritten. Then evicts the least recently used programs beyond `maxPrograms`. Rejects with
   * kind `other` when the file system fails (e.g. the disk is full).
   */
  async put(code: Uint8Array, digest: string): Promise<string> {
    const hex = digestHex(digest);
    const actual = programDigest(code);
    if (actual !== digest) {
      throw errorOf("invalid", `the program does not match its digest: expected ${digest}, its ${code.byteLength} bytes hash to ${actual}; nothing was stored`, { severity: "fatal" });
    }
    const file = this.#fileOf(hex);
    if ((await fileDigest(file)) !== digest) await this.#writeAtomically(file, hex, code);
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
      const handle = await open(temp, "wx", FILE_MODE);
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
      this.#remove(hex);
    }
  }

  #remove(hex: string): void {
    this.#lastUse.delete(hex);
    try {
      unlinkSync(this.#fileOf(hex));
    } catch {
      // Already gone (another process evicted it too).
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

/**
 * The digest of a file's bytes; undefined when there is no such file. Read whole: a program is held in
 * memory when it is shipped anyway, and one read hashes a megabyte several times faster than a stream
 * of small chunks through the thread pool.
 */
async function fileDigest(file: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw errorOf("other", `could not read the stored program ${file}: ${(err as Error).message}`, { severity: "unknown", cause: err });
  }
  return programDigest(bytes);
}

/**
 * Throws kind `precondition` unless `dir` is a folder owned by this process's user and not writable by
 * its group or by others; `what` names the folder in the message. Platforms without user ids (Windows)
 * skip the owner check.
 */
export function checkPrivateFolder(dir: string, what = "the program store"): void {
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw errorOf("precondition", `${what} ${dir} is not a folder`, { severity: "fatal" });
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw errorOf("precondition", `${what} ${dir} is owned by user ${stat.uid}, not by this process's user ${uid}; refusing it, since its owner could change the programs machines run`, { severity: "fatal" });
  }
  if (uid !== undefined && (stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, "0");
    throw errorOf("precondition", `${what} ${dir} is writable by its group or by others (mode ${mode}); refusing it, since they could change the programs machines run (make it 0700)`, { severity: "fatal" });
  }
}
