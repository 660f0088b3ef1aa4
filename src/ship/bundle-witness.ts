/**
 * @module
 * What a bundle was made from, recorded so that a later run can tell, without running the bundler,
 * whether bundling again would give the same bundle: a witness. It holds
 *
 * - the SHA-256 of every file bundled, and of every `package.json`, `tsconfig.json` and `jsconfig.json`
 *   in the folders above them (and of the files a tsconfig `extends`), which steer how imports resolve
 *   and how TypeScript compiles; where there is no such file, that there is none;
 * - the modification time of every folder that holds a file bundled, and of every folder above one up
 *   to the program's package root: an entry added there or removed could change what an import
 *   resolves to (`foo.ts` next to `foo/index.ts`, a closer package), and adding or removing an entry
 *   changes its folder's time;
 * - the modification time of every `node_modules` folder in the folders above a file bundled, up to
 *   the file system's root, and of their `@scope` folders, or that there is none: a package installed
 *   closer, or an optional dependency installed at all, changes what a bare import resolves to.
 *
 * Folders above the package root are watched only for those: they are often busy (a home folder, the
 * temporary folder), and nothing else in them steers a build. A witness holds when everything it
 * records is unchanged. A folder's time does not move when a file in it is rewritten in place, which is
 * why files are compared by content: a file whose size, modification time (in nanoseconds) and inode
 * are all as recorded is taken as unchanged without reading it (as git does), and any other is hashed.
 * The checks are synchronous: a few hundred `stat` calls take a few milliseconds, while the same work
 * through the thread pool took several times that on a busy host.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, type BigIntStats } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { errorOf } from "../errors.ts";

/** A file as recorded: its content's SHA-256 (hex), and what `stat` said of it then. */
export interface FileRecord {
  hash: string;
  /** `size:mtimeNs:ino`. */
  stat: string;
}

/** What a bundle was made from, by absolute path. */
export interface Witness {
  /** Each file, or null where there was no such file. */
  files: Record<string, FileRecord | null>;
  /** Each folder's modification time in nanoseconds, or null where there was no such folder. */
  dirs: Record<string, string | null>;
}

/** Files in a folder that steer resolution and compilation of the files below it. */
const CONFIG_FILES = ["package.json", "tsconfig.json", "jsconfig.json"];

/** What `stat` says of `p`; null when there is nothing there. */
function statOrNull(p: string): BigIntStats | null {
  try {
    return statSync(p, { bigint: true });
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** What `stat` says of a file, or null when there is no such file (or it is not a file). */
function fileStat(file: string): BigIntStats | null {
  const s = statOrNull(file);
  return s?.isFile() ? s : null;
}

function statKey(s: BigIntStats): string {
  return `${s.size}:${s.mtimeNs}:${s.ino}`;
}

/** A file's record; null when there is no such file. */
function fileRecord(file: string): FileRecord | null {
  const s = fileStat(file);
  if (!s) return null;
  return { hash: createHash("sha256").update(readFileSync(file)).digest("hex"), stat: statKey(s) };
}

/** Whether `file` is as `record` says: absent, or with the same `stat`, or else the same content. */
function fileMatches(file: string, record: FileRecord | null): boolean {
  const s = fileStat(file);
  if (!s || !record) return !s && !record;
  return statKey(s) === record.stat || createHash("sha256").update(readFileSync(file)).digest("hex") === record.hash;
}

/** A folder's modification time in nanoseconds; null when there is no such folder. */
function dirTime(dir: string): string | null {
  const s = statOrNull(dir);
  return s?.isDirectory() ? s.mtimeNs.toString() : null;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Whether `dir` is `root` or inside it. */
function within(dir: string, root: string): boolean {
  const rel = path.relative(root, dir);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The `@scope` folders of the `node_modules` folder `modules`; none when it does not exist. */
function scopeFolders(modules: string): string[] {
  try {
    const entries = readdirSync(modules, { withFileTypes: true });
    return entries.filter((e) => e.name.startsWith("@") && e.isDirectory()).map((e) => path.join(modules, e.name));
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** The files a tsconfig's `extends` names (a path, a package's file, or a list of them). */
function extendedConfigs(config: string, text: string): string[] {
  const match = /"extends"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\])/.exec(text);
  if (!match) return [];
  const names = [...match[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  return names.map((name) => {
    if (name.startsWith(".") || path.isAbsolute(name)) {
      const file = path.resolve(path.dirname(config), name);
      return path.extname(file) === "" ? `${file}.json` : file;
    }
    const require = createRequire(config);
    for (const candidate of [name, `${name}.json`, `${name}/tsconfig.json`]) {
      try {
        return require.resolve(candidate);
      } catch {
        // Try the next form.
      }
    }
    throw errorOf("not-exist", `cannot find ${JSON.stringify(name)}, which ${config} extends`, { severity: "fatal" });
  });
}

/**
 * The witness of a bundle made from `inputs` (absolute paths of the files bundled) for a program whose
 * package root is `root`. Rejects when a file bundled cannot be read or a tsconfig extends something
 * that cannot be found: such a bundle is not recorded.
 */
export function witnessOf(inputs: string[], root: string): Witness {
  const watched = new Set<string>();
  const above = new Set<string>();
  for (const input of inputs) {
    for (let dir = path.dirname(input), first = true; ; dir = path.dirname(dir), first = false) {
      if (first || within(dir, root)) watched.add(dir);
      else above.add(dir);
      if (path.dirname(dir) === dir) break;
    }
  }
  for (const dir of watched) above.delete(dir);
  const folders = [...watched, ...above];
  const modules = folders.map((dir) => path.join(dir, "node_modules"));
  const scopes = modules.flatMap(scopeFolders);

  const dirs: Record<string, string | null> = {};
  for (const dir of [...watched, ...modules, ...scopes]) dirs[dir] = dirTime(dir);

  const files: Record<string, FileRecord | null> = {};
  /** Records `file`; a TypeScript config also records what it extends. */
  const add = (file: string, required: boolean, tsconfig: boolean): void => {
    if (file in files) return;
    const record = fileRecord(file);
    if (record === null && required) throw errorOf("not-exist", `${file} was bundled but cannot be read`, { severity: "fatal" });
    files[file] = record;
    if (record === null || !tsconfig) return;
    for (const extended of extendedConfigs(file, readFileSync(file, "utf8"))) add(extended, true, true);
  };
  for (const input of inputs) add(input, true, false);
  for (const dir of folders) for (const name of CONFIG_FILES) add(path.join(dir, name), false, name !== "package.json");
  return { files, dirs };
}

/** Whether nothing `witness` records has changed. Never throws: anything unreadable counts as a change. */
export function witnessHolds(witness: Witness): boolean {
  try {
    for (const [dir, time] of Object.entries(witness.dirs)) if (dirTime(dir) !== time) return false;
    for (const [file, record] of Object.entries(witness.files)) if (!fileMatches(file, record)) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * The latest modification time (ms) of anything `witness` records. A bundle whose sources changed
 * shortly before or while it was made may hold the old content under the new content's witness, so
 * such a bundle is not recorded (as git does with files changed within its clock's resolution).
 */
export function lastChangeMs(witness: Witness): number {
  const recorded = [...Object.entries(witness.files), ...Object.entries(witness.dirs)].filter(([, value]) => value !== null).map(([p]) => p);
  return Math.max(0, ...recorded.map((p) => Number((statOrNull(p)?.mtimeNs ?? 0n) / 1_000_000n)));
}
