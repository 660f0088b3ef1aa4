#!/usr/bin/env node
// Command-line entry point. The package runs from its TypeScript sources, so register tsx first.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
