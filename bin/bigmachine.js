#!/usr/bin/env node
// Command-line entry point. An installed package runs its built JavaScript; a checkout of the
// repository (which has the TypeScript sources) runs them under tsx, so it never runs a stale build.
import { existsSync } from "node:fs";

const source = new URL("../src/cli.ts", import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import(new URL("../dist/src/cli.js", import.meta.url).href));
}
process.exitCode = await main(process.argv.slice(2));
