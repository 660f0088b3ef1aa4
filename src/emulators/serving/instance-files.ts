/**
 * @module
 * Each instance's own writable file system, as a container has one: a fresh folder holding its `HOME`
 * and `TMPDIR`, made before it starts and removed once it has stopped. Cloud Run's file system lives
 * in memory, so the bytes written there count towards the instance's memory limit.
 */
import { mkdir, mkdtemp, readdir, rm, lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The folders of one instance. */
export interface InstanceFiles {
  /** The folder holding the rest. */
  readonly root: string;
  /** `HOME` of the instance. */
  readonly home: string;
  /** `TMPDIR` of the instance. */
  readonly tmp: string;
  /** Bytes of every file written under {@link root}. */
  bytesUsed(): Promise<number>;
  /** Removes everything. Idempotent. */
  remove(): Promise<void>;
}

/** Makes the folders of a new instance. */
export async function createInstanceFiles(): Promise<InstanceFiles> {
  const root = await mkdtemp(join(tmpdir(), "bigmachine-instance-"));
  const home = join(root, "home");
  const tmp = join(root, "tmp");
  await Promise.all([mkdir(home), mkdir(tmp)]);
  let removing: Promise<void> | undefined;
  return {
    root,
    home,
    tmp,
    bytesUsed: () => folderBytes(root),
    // Retried: the last processes of a killed group may still be writing as the folder goes.
    remove: () => (removing ??= rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined)),
  };
}

/** The sizes of the files under `dir`, added up; files that vanish while it counts are skipped. */
async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(path);
    else total += await lstat(path).then((s) => s.size, () => 0);
  }
  return total;
}
