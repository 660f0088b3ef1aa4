/**
 * @module
 * What a single ES module file needs so that the CommonJS code bundled into it still runs under Node:
 *
 * - `require`: esbuild turns a CommonJS module's `require("x")` of something it does not bundle (Node's
 *   built-ins, optional dependencies that are not installed) into a call to a shim that throws unless a
 *   real `require` is in scope. The banner defines one with `createRequire`. esbuild always renames a
 *   bundled module's own top-level `require`, so the banner's cannot clash with it.
 * - `__filename` and `__dirname`: esbuild does not rename a module's own top-level `__filename` (a common
 *   line in ES modules), so a banner defining them could clash. Instead they come from a small virtual
 *   module that esbuild injects only where they are used without being declared, and renames as needed.
 *   They name the bundle file and its folder: a dependency that reads files next to its own sources will
 *   not find them there, which is why such programs belong in the worker image instead.
 * - Native addons (`.node` files) are machine code for one platform, loaded from a file; they cannot
 *   travel inside a bundle, so loading one fails the build with a clear error.
 * - Packages that find their addon only when they run, by path from their own folder
 *   (`node-gyp-build`, `node-gyp-build-optional-packages`), cannot find it from a bundle either, which
 *   has no such folder: they are replaced with a module that throws at once, as their search would
 *   after probing the file system (and, for the latter, running a report of the process to tell musl
 *   from glibc). Packages with an optional accelerator, such as msgpackr's `msgpackr-extract`, catch it
 *   and run their JavaScript instead, as they do in the bundle anyway; the search cost a machine several
 *   milliseconds of its start.
 */
import type { Plugin } from "esbuild";

/** Defines `require` for the bundled CommonJS modules; names are chosen not to clash with bundled code. */
export const REQUIRE_BANNER = [
  'import { createRequire as __bigmachineCreateRequire } from "node:module";',
  "const require = __bigmachineCreateRequire(import.meta.url);",
].join(" ");

/** The import path of the virtual module that defines `__filename` and `__dirname`. */
export const CJS_GLOBALS_MODULE = "bigmachine-ship:cjs-globals";

const NAMESPACE = "bigmachine-ship";

const CJS_GLOBALS_SOURCE = [
  'import { fileURLToPath } from "node:url";',
  'import { dirname } from "node:path";',
  "export const __filename = fileURLToPath(import.meta.url);",
  "export const __dirname = dirname(__filename);",
].join("\n");

/** Serves {@link CJS_GLOBALS_MODULE}, for esbuild's `inject`. */
export function cjsGlobalsPlugin(): Plugin {
  return {
    name: "bigmachine-cjs-globals",
    setup(build) {
      build.onResolve({ filter: /^bigmachine-ship:cjs-globals$/ }, (args) => ({ path: args.path, namespace: NAMESPACE }));
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, () => ({ contents: CJS_GLOBALS_SOURCE, loader: "js", resolveDir: "/" }));
    },
  };
}

/** Packages that look for a native addon by path at run time; see the module doc. */
const RUNTIME_ADDON_LOADERS = /^(node-gyp-build|node-gyp-build-optional-packages)$/;

/** Replaces run-time addon loaders with a module that throws when loaded, naming the package. */
export function runtimeAddonLoaderPlugin(): Plugin {
  return {
    name: "bigmachine-runtime-addon-loaders",
    setup(build) {
      build.onResolve({ filter: RUNTIME_ADDON_LOADERS }, (args) => ({ path: args.path, namespace: `${NAMESPACE}-addon-loader` }));
      build.onLoad({ filter: /.*/, namespace: `${NAMESPACE}-addon-loader` }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} cannot load native addons from a bundle: it finds them by path from its own folder, which a bundle does not have`)});
`,
        loader: "js",
      }));
    },
  };
}

/** Fails the build, naming the file, when the program loads a native addon. */
export function nativeAddonPlugin(): Plugin {
  return {
    name: "bigmachine-native-addons",
    setup(build) {
      build.onLoad({ filter: /\.node$/ }, (args) => ({
        errors: [
          {
            text: `native addon ${args.path} cannot be shipped in a bundle: it is machine code for one platform, loaded from its own file`,
          },
        ],
      }));
    },
  };
}
