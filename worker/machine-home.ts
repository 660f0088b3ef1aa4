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

/** A machine's folder and the program file in it. */
export interface MachineHome {
  dir: string;
  program: string;
  /** Removes the folder and everything in it. */
  remove(): Promise<void>;
}

/** Makes a fresh folder for a machine, owned by `user` when given, with a copy of `programPath` in it. */
export async function makeMachineHome(programPath: string, user?: MachineUser, parent = tmpdir()): Promise<MachineHome> {
  const dir = await mkdtemp(path.join(parent, "bigmachine-machine-"));
  const program = path.join(dir, "program.mjs");
  await copyFile(programPath, program);
  if (user !== undefined) {
    await chown(program, user.uid, user.gid);
    await chown(dir, user.uid, user.gid);
  }
  return { dir, program, remove: () => rm(dir, { recursive: true, force: true }) };
}
