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
 * why files are compared by content.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { errorOf } from "../errors.ts";

/** What a bundle was made from, by absolute path. */
export interface Witness {
  /** SHA-256 (hex) of each file's content, or null where there was no such file. */
  files: Record<string, string | null>;
  /** Each folder's modification time in nanoseconds, or null where there was no such folder. */
  dirs: Record<string, string | null>;
}

/** Files in a folder that steer resolution and compilation of the files below it. */
const CONFIG_FILES = ["package.json", "tsconfig.json", "jsconfig.json"];

/** The SHA-256 (hex) of a file's content; null when there is no such file. */
async function fileHash(file: string): Promise<string | null> {
  try {
    return createHash("sha256").update(await readFile(file)).digest("hex");
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** A folder's modification time in nanoseconds; null when there is no such folder. */
async function dirTime(dir: string): Promise<string | null> {
  try {
    const s = await stat(dir, { bigint: true });
    return s.isDirectory() ? s.mtimeNs.toString() : null;
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
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
async function scopeFolders(modules: string): Promise<string[]> {
  try {
    const entries = await readdir(modules, { withFileTypes: true });
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
export async function witnessOf(inputs: string[], root: string): Promise<Witness> {
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
  const scopes = (await Promise.all(modules.map(scopeFolders))).flat();

  const dirs: Record<string, string | null> = {};
  for (const dir of [...watched, ...modules, ...scopes]) dirs[dir] = await dirTime(dir);

  const files: Record<string, string | null> = {};
  /** Records `file`; a TypeScript config also records what it extends. */
  const add = async (file: string, required: boolean, tsconfig: boolean): Promise<void> => {
    if (file in files) return;
    const hash = await fileHash(file);
    if (hash === null && required) throw errorOf("not-exist", `${file} was bundled but cannot be read`, { severity: "fatal" });
    files[file] = hash;
    if (hash === null || !tsconfig) return;
    for (const extended of extendedConfigs(file, await readFile(file, "utf8"))) await add(extended, true, true);
  };
  for (const input of inputs) await add(input, true, false);
  for (const dir of folders) for (const name of CONFIG_FILES) await add(path.join(dir, name), false, name !== "package.json");
  return { files, dirs };
}

/** Whether nothing `witness` records has changed. Never rejects: anything unreadable counts as a change. */
export async function witnessHolds(witness: Witness): Promise<boolean> {
  try {
    for (const [dir, time] of Object.entries(witness.dirs)) if ((await dirTime(dir)) !== time) return false;
    const hashes = await Promise.all(Object.keys(witness.files).map(fileHash));
    return Object.values(witness.files).every((hash, i) => hashes[i] === hash);
  } catch {
    return false;
  }
}

/**
 * The latest modification time (ms) of anything `witness` records. A bundle whose sources changed
 * shortly before or while it was made may hold the old content under the new content's witness, so
 * such a bundle is not recorded (as git does with files changed within its clock's resolution).
 */
export async function lastChangeMs(witness: Witness): Promise<number> {
  const recorded = [...Object.entries(witness.files), ...Object.entries(witness.dirs)].filter(([, value]) => value !== null).map(([p]) => p);
  const times = await Promise.all(
    recorded.map(async (p) => {
      try {
        return (await stat(p)).mtimeMs;
      } catch {
        return 0;
      }
    }),
  );
  return Math.max(0, ...times);
}
