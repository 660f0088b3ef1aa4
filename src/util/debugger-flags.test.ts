/**
 * Node options that open a debugger are found in every spelling node accepts, in argument lists and
 * in NODE_OPTIONS, and only they are removed.
 */
import { describe, expect, it } from "vitest";
import { isDebuggerFlag, nodeOptionsWithoutDebugger, withoutDebuggerFlags } from "./debugger-flags.ts";

describe("debugger flags", () => {
  it("are the --inspect and --debug families, with dashes or underscores, with or without a value", () => {
    for (const flag of ["--inspect", "--inspect=9229", "--inspect-brk", "--inspect-brk=127.0.0.1:0", "--inspect-wait", "--inspect-port=0", "--inspect_brk", "--inspect-publish-uid=http", "--debug", "--debug-port=1", "--debug-brk"]) {
      expect(isDebuggerFlag(flag), flag).toBe(true);
    }
    for (const flag of ["--import", "tsx", "--inspector", "--enable-source-maps", "-e", "--max-old-space-size=512", "inspect"]) {
      expect(isDebuggerFlag(flag), flag).toBe(false);
    }
  });

  it("are removed from an argument list with the separate values they take", () => {
    expect(withoutDebuggerFlags(["--inspect-port", "9229", "--import", "tsx", "--debug-port", "1", "--inspect", "--trace-warnings"])).toEqual(["--import", "tsx", "--trace-warnings"]);
    expect(withoutDebuggerFlags([])).toEqual([]);
  });

  it("are removed from NODE_OPTIONS, keeping every other option as written", () => {
    expect(nodeOptionsWithoutDebugger('--import=/a/guard.mjs --inspect=127.0.0.1:0 --require "/path with space/x.js"')).toBe('--import=/a/guard.mjs --require "/path with space/x.js"');
    expect(nodeOptionsWithoutDebugger("  --inspect-brk   --inspect-port 4000 ")).toBeUndefined();
    expect(nodeOptionsWithoutDebugger('--title "a \\" b" --inspect')).toBe('--title "a \\" b"');
    expect(nodeOptionsWithoutDebugger(undefined)).toBeUndefined();
    expect(nodeOptionsWithoutDebugger("--max-old-space-size=64")).toBe("--max-old-space-size=64");
  });
});
