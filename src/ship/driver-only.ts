/**
 * @module
 * Driver-only modules, left out of shipped programs. A shipped program only ever runs as a machine, so
 * code that only a driver runs (the Cloud Run System's driver side with the Google clients, the
 * emulators) would only make every bundle larger and slower to build: the Google clients alone add
 * about 10 MiB. A module marks itself with a first line of exactly {@link DRIVER_ONLY_PRAGMA}; the
 * bundler replaces it with a module that throws, naming it, if it is ever evaluated.
 *
 * Programs import driver-only modules with `await import()` where a driver needs them (bigmachine's
 * `start()` does so for the Cloud Run System), so the throwing stand-in is never evaluated on a machine.
 * A static import of one would be evaluated at load, and the machine would fail with that message.
 */
import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import type { Plugin } from "esbuild";

/** The first line that marks a module as driver-only. */
export const DRIVER_ONLY_PRAGMA = "// bigmachine: driver-only";

const SOURCE_FILE = /\.(m|c)?[jt]sx?$/;

/** Whether the file at `file` starts with {@link DRIVER_ONLY_PRAGMA}. */
export function isDriverOnly(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(DRIVER_ONLY_PRAGMA.length + 2);
    const n = readSync(fd, head, 0, head.length, 0);
    const first = head.subarray(0, n).toString("utf8").split(/\r?\n/)[0];
    return first === DRIVER_ONLY_PRAGMA;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/**
 * Whether `file` may carry the pragma: the program's own modules, and bigmachine's when it is installed
 * as a package (`node_modules/bigmachine/`). Other packages' files are not read for it: there are many.
 */
export function mayBeDriverOnly(file: string): boolean {
  const at = file.lastIndexOf(NODE_MODULES);
  return at < 0 || file.startsWith(`bigmachine${path.sep}`, at + NODE_MODULES.length);
}

/** Replaces driver-only modules (see {@link mayBeDriverOnly}) with a stand-in that throws when evaluated. */
export function driverOnlyPlugin(root: string): Plugin {
  return {
    name: "bigmachine-driver-only",
    setup(build) {
      build.onLoad({ filter: SOURCE_FILE }, (args) => {
        if (!mayBeDriverOnly(args.path) || !isDriverOnly(args.path)) return undefined;
        const name = path.relative(root, args.path).split(path.sep).join("/");
        const message = `${name} is driver-only and left out of shipped programs; import it with \`await import()\` in code only a driver runs`;
        return { contents: `throw new Error(${JSON.stringify(message)});\n`, loader: "js" };
      });
    },
  };
}
