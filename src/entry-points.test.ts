/**
 * The published entry points export what their docs say: the root export is exactly the list in the
 * README's API section, and `bigmachine/system` holds nothing bigmachine's own systems do not use
 * (src/core.ts) but `registerSystem`. Names are read with the TypeScript compiler, types included.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const file = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** Every name each module exports, values and types alike. */
function exportedNames(...modules: string[]): Map<string, string[]> {
  const config = ts.readConfigFile(file("../tsconfig.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, file(".."));
  const program = ts.createProgram({ rootNames: modules, options: { ...options, noEmit: true } });
  const checker = program.getTypeChecker();
  return new Map(
    modules.map((module) => {
      const symbol = checker.getSymbolAtLocation(program.getSourceFile(module)!)!;
      return [module, checker.getExportsOfModule(symbol).map((s) => s.name).sort()];
    }),
  );
}

/** The backquoted names of the list that follows "exports these names and no others:" in the README. */
function readmeRootNames(): string[] {
  const readme = readFileSync(file("../README.md"), "utf8");
  const after = readme.split("exports these names and no others:\n")[1];
  if (after === undefined) throw new Error("the README's API section does not list the root export's names");
  const list = after.trimStart().split("\n\n")[0]!;
  return [...list.matchAll(/`([A-Za-z_][\w]*)`/g)].map((m) => m[1]!).sort();
}

describe("the published entry points", () => {
  const [root, system, core] = [file("./index.ts"), file("./system-api.ts"), file("./core.ts")];
  const names = exportedNames(root, system, core);

  it("export from the root exactly the names the README lists", () => {
    expect(names.get(root)).toEqual(readmeRootNames());
  });

  it("keep helpers and the RPC layer out of the root", () => {
    for (const internal of ["sleep", "LineLog", "readHostFile", "RpcPeer", "ResumableLink", "streamLink", "encode", "createMachineEndpoint", "localSystem", "registerSystem"]) {
      expect(names.get(root)).not.toContain(internal);
    }
  });

  it("give System authors what bigmachine's own systems use, and registerSystem", () => {
    const fromCore = new Set(names.get(core));
    expect(names.get(system)!.filter((name) => !fromCore.has(name))).toEqual(["SystemFactory", "registerSystem"]);
    for (const helper of ["sleep", "LineLog", "readHostFile", "signalProcessGroup"]) expect(names.get(system)).not.toContain(helper);
    for (const needed of ["System", "RpcEndpoint", "Link", "Machine", "MachineOptions", "createMachineEndpoint", "ResumableLink", "streamLink", "encode", "decode", "offerSessionSecret"]) {
      expect(names.get(system)).toContain(needed);
    }
  });
});
