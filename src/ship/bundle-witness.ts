/**
 * @module
 * What a bundle was made from, recorded so that a later run can tell whether bundling again would give
 * the same bundle without running the bundler: a witness. It holds
 *
 * - the SHA-256 of every file bundled, and of every `package.json`, `tsconfig.json` and `jsconfig.json`
 *   in the folders above them (and of the files a tsconfig `extends`), since those steer how imports
 *   resolve and how TypeScript is compiled;
 * - the modification time of every folder above a file bundled, up to the root, and of the
 *   `node_modules` folders in them (with their `@scope` folders): a file added to or removed from any of
 *   them could change what an import resolves to (a closer package, `foo.ts` next to `foo/index.ts`, an
 *   optional dependency installed), and adding or removing an entry changes its folder's time.
 *
 * A witness holds when every one of those is unchanged. A folder's time does not move when a file in it
 * is rewritten in place, which is why files are compared by content.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { errorOf } from "../errors.ts";

/** What a bundle was made from: file contents and folder times, by absolute path. */
export interface Witness {
  /** SHA-256 (hex) of each file's content. */
  files: Record<string, string>;
  /** Each folder's modification time in nanoseconds, or null where there was no such folder. */
  dirs: Record<string, string | null>;
}

/** Files in a folder that steer resolution and compilation of the files below it. */
const CONFIG_FILES = ["package.json", "tsconfig.json", "jsconfig.json"];

/** The SHA-256 (hex) of a file's content; undefined when there is no such file. */
async function fileHash(file: string): Promise<string | undefined> {
  try {
    return createHash("sha256").update(await readFile(file)).digest("hex");
  } catch (err) {
    if (isMissing(err)) return undefined;
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

/** Every folder above each of `files`, up to the root. */
function ancestors(files: string[]): string[] {
  const dirs = new Set<string>();
  for (const file of files) {
    for (let dir = path.dirname(file); !dirs.has(dir); dir = path.dirname(dir)) {
      dirs.add(dir);
      if (path.dirname(dir) === dir) break;
    }
  }
  return [...dirs];
}

/** The `node_modules` folder in `dir` and its `@scope` folders, if there is one. */
async function packageFolders(dir: string): Promise<string[]> {
  const modules = path.join(dir, "node_modules");
  let entries;
  try {
    entries = await readdir(modules, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  return [modules, ...entries.filter((e) => e.name.startsWith("@") && e.isDirectory()).map((e) => path.join(modules, e.name))];
}

/** The files a tsconfig's `extends` names (a path, a package's file, or a list of them). */
function extendedConfigs(config: string, text: string): string[] {
  const match = /"extends"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\])/.exec(text);
  if (!match) return [];
  const names = [...match[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  return names.map((name) => {
    const dir = path.dirname(config);
    if (name.startsWith(".") || path.isAbsolute(name)) {
      const file = path.resolve(dir, name);
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
 * The witness of a bundle made from `inputs` (absolute paths of the files bundled). Rejects when a
 * file cannot be read or a tsconfig extends something that cannot be found: such a bundle is not
 * recorded.
 */
export async function witnessOf(inputs: string[]): Promise<Witness> {
  const folders = ancestors(inputs);
  const packages = (await Promise.all(folders.map(packageFolders))).flat();
  const dirs: Record<string, string | null> = {};
  for (const dir of [...folders, ...packages]) dirs[dir] = await dirTime(dir);

  const files: Record<string, string> = {};
  /** Records `file`; a TypeScript config also records what it extends. */
  const add = async (file: string, required: boolean, tsconfig: boolean): Promise<void> => {
    if (file in files) return;
    const hash = await fileHash(file);
    if (hash === undefined) {
      // An absent config file is covered by its folder's time; an absent input is an error.
      if (required) throw errorOf("not-exist", `${file} was bundled but cannot be read`, { severity: "fatal" });
      return;
    }
    files[file] = hash;
    if (!tsconfig) return;
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
 * shortly before or while it was made may hold the old content under the new one's witness, so such a
 * bundle is not recorded (as git does for files changed within its clock's resolution).
 */
export async function lastChangeMs(witness: Witness): Promise<number> {
  const times = await Promise.all(
    [...Object.keys(witness.files), ...Object.keys(witness.dirs)].map(async (p) => {
      try {
        return (await stat(p)).mtimeMs;
      } catch {
        return 0;
      }
    }),
  );
  return Math.max(0, ...times);
}
