/**
 * @module
 * A machine's own folder on the instance: its HOME and TMPDIR, holding its private copy of the
 * program it runs. When the worker runs machines as another user (see `machineUser` in `config.ts`),
 * the folder is that user's and no one else's, so the machine reads its program and writes its files
 * while the worker's store of programs, its environment (with the deployment key) and its memory stay
 * out of the machine's reach. The copy is made from bytes whose digest was just checked, so what runs
 * is what the driver shipped.
 */
import { chown, copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** A user (and group) machines run as. */
export interface MachineUser {
  uid: number;
  gid: number;
}

/** A machine's folder, before its program is placed in it. */
export interface MachineFolder {
  dir: string;
  /** Copies `programPath` into the folder, owned by the machine's user; resolves with the copy's path. */
  place(programPath: string): Promise<string>;
  /** Removes the folder and everything in it. */
  remove(): Promise<void>;
}

/** Makes a fresh, empty folder for a machine, owned by `user` when given. */
export async function makeMachineFolder(user?: MachineUser, parent = tmpdir()): Promise<MachineFolder> {
  const dir = await mkdtemp(path.join(parent, "bigmachine-machine-"));
  if (user !== undefined) await chown(dir, user.uid, user.gid);
  return {
    dir,
    place: async (programPath) => {
      const program = path.join(dir, "program.mjs");
      await copyFile(programPath, program);
      if (user !== undefined) await chown(program, user.uid, user.gid);
      return program;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
