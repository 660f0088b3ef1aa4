import { describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import { envMillis, envProgram, keepaliveEnv, LOCAL_ENV, ownProgram, resolveBundleMode, resolveKeepalive, resolveLocalOptions, resolveProgram } from "./config.ts";
import { thrown } from "../../../test/helpers.ts";

describe("resolveKeepalive", () => {
  it("defaults to a 10 s timeout with period and rpc timeout derived from it", () => {
    expect(resolveKeepalive({}, {})).toEqual({ timeoutMs: 10_000, periodMs: 2_000, rpcTimeoutMs: 5_000 });
  });

  it("derives period and rpc timeout from a timeout given alone", () => {
    expect(resolveKeepalive({ timeoutMs: 1_000 }, {})).toEqual({ timeoutMs: 1_000, periodMs: 200, rpcTimeoutMs: 500 });
    expect(resolveKeepalive({}, { [LOCAL_ENV.keepaliveTimeoutMs]: "3000" })).toEqual({ timeoutMs: 3_000, periodMs: 600, rpcTimeoutMs: 1_500 });
  });

  it("prefers options over the environment over the rule", () => {
    const env = { [LOCAL_ENV.keepaliveTimeoutMs]: "4000", [LOCAL_ENV.keepalivePeriodMs]: "100" };
    expect(resolveKeepalive({ periodMs: 300 }, env)).toEqual({ timeoutMs: 4_000, periodMs: 300, rpcTimeoutMs: 2_000 });
    expect(resolveKeepalive({}, env)).toEqual({ timeoutMs: 4_000, periodMs: 100, rpcTimeoutMs: 2_000 });
  });

  it("refuses inconsistent or non-positive timings with kind invalid", () => {
    expect(isKind(thrown(() => resolveKeepalive({ timeoutMs: 1_000, periodMs: 1_000 }, {})), "invalid")).toBe(true);
    expect(isKind(thrown(() => resolveKeepalive({ timeoutMs: 1_000, rpcTimeoutMs: 2_000 }, {})), "invalid")).toBe(true);
    expect(isKind(thrown(() => resolveKeepalive({ timeoutMs: -5 }, {})), "invalid")).toBe(true);
  });

  it("round-trips through the environment handed to machines", () => {
    const config = { periodMs: 150, timeoutMs: 900, rpcTimeoutMs: 400 };
    expect(resolveKeepalive({}, keepaliveEnv(config))).toEqual(config);
  });
});

describe("envMillis", () => {
  it("reads positive whole milliseconds and treats empty as unset", () => {
    expect(envMillis({ X: " 250 " }, "X")).toBe(250);
    expect(envMillis({ X: "" }, "X")).toBeUndefined();
    expect(envMillis({}, "X")).toBeUndefined();
  });

  it("names the variable in the error for a bad value", () => {
    for (const bad of ["ten", "1.5", "0", "-3"]) {
      const err = thrown(() => envMillis({ [LOCAL_ENV.keepaliveTimeoutMs]: bad }, LOCAL_ENV.keepaliveTimeoutMs)) as Error;
      expect(isKind(err, "invalid")).toBe(true);
      expect(err.message).toContain(LOCAL_ENV.keepaliveTimeoutMs);
    }
  });
});

describe("resolveLocalOptions", () => {
  it("defaults the program to the driver's own entry, node flags and arguments", () => {
    expect(ownProgram({ argv: ["node", "/app/driver.ts", "--n", "3"], execArgv: ["--import", "tsx"] })).toEqual({
      entry: "/app/driver.ts",
      execArgv: ["--import", "tsx"],
      args: ["--n", "3"],
    });
    expect(ownProgram({ argv: ["node"], execArgv: [] })).toBeUndefined();
  });

  it("runs the program named in the environment with plain node and the driver's arguments", () => {
    const proc = { argv: ["node", "/app/driver.ts", "--n", "3"] };
    expect(envProgram({ [LOCAL_ENV.program]: " /store/abc.mjs " }, proc)).toEqual({ entry: "/store/abc.mjs", execArgv: [], args: ["--n", "3"] });
    expect(envProgram({ [LOCAL_ENV.program]: "" }, proc)).toBeUndefined();
    expect(envProgram({}, proc)).toBeUndefined();
    const env = { [LOCAL_ENV.program]: "/store/abc.mjs" };
    expect(resolveLocalOptions({ output: false }, env).program).toMatchObject({ source: { entry: "/store/abc.mjs", execArgv: [] }, bundle: "never" });
    // An explicit program still wins over the environment.
    expect(resolveLocalOptions({ program: { entry: "m.ts" }, output: false }, env).program?.source.entry).toBe("m.ts");
  });

  it("fills in an explicit program and reads the startup timeout and debug switches from the environment", () => {
    const resolved = resolveLocalOptions(
      { program: { entry: "m.ts" }, output: false },
      { [LOCAL_ENV.startupTimeoutMs]: "1234", [LOCAL_ENV.debug]: "1", [LOCAL_ENV.debugLog]: "events.log" },
    );
    expect(resolved.program).toEqual({ source: { entry: "m.ts", execArgv: [], args: [] }, bundle: "never" });
    expect(resolved.startupTimeoutMs).toBe(1_234);
    expect(resolved.output).toBe(false);
    expect(resolved.debug).toEqual({ enabled: true, file: "events.log" });
    expect(resolved.maxprocs).toBeGreaterThan(0);
    expect(resolveLocalOptions({ output: false }, { [LOCAL_ENV.debug]: "0" }).debug.enabled).toBe(false);
  });

  it("refuses bad counts with kind invalid", () => {
    expect(isKind(thrown(() => resolveLocalOptions({ maxprocs: 0 }, {})), "invalid")).toBe(true);
    expect(isKind(thrown(() => resolveLocalOptions({ outputLines: 1.5 }, {})), "invalid")).toBe(true);
    expect(isKind(thrown(() => resolveLocalOptions({ program: { entry: "" } }, {})), "invalid")).toBe(true);
  });
});

describe("the bundle mode", () => {
  const driver = { argv: ["node", "/app/driver.ts", "--n", "3"], execArgv: ["--import", "tsx"] };

  it("bundles the driver's own program unless told otherwise, by the option first, then BIGMACHINE_LOCAL_BUNDLE", () => {
    expect(resolveProgram({}, {}, driver)).toEqual({ source: { entry: "/app/driver.ts", execArgv: ["--import", "tsx"], args: ["--n", "3"] }, bundle: "auto" });
    expect(resolveProgram({}, { [LOCAL_ENV.bundle]: "never" }, driver)?.bundle).toBe("never");
    expect(resolveProgram({ bundle: "always" }, { [LOCAL_ENV.bundle]: "never" }, driver)?.bundle).toBe("always");
  });

  it("runs an explicit program as given unless asked, and the environment's script always as is", () => {
    expect(resolveProgram({ program: { entry: "/app/m.ts", execArgv: ["--import", "tsx"] } }, {}, driver)?.bundle).toBe("never");
    expect(resolveProgram({ program: { entry: "/app/m.ts" }, bundle: "auto" }, {}, driver)?.bundle).toBe("auto");
    expect(resolveProgram({ program: { entry: "/app/m.ts" } }, { [LOCAL_ENV.bundle]: "auto" }, driver)?.bundle).toBe("auto");
    const env = { [LOCAL_ENV.program]: "/store/abc.mjs", [LOCAL_ENV.bundle]: "always" };
    expect(resolveProgram({}, env, driver)).toEqual({ source: { entry: "/store/abc.mjs", execArgv: [], args: ["--n", "3"] }, bundle: "never" });
  });

  it("has no program without an entry script", () => {
    expect(resolveProgram({}, {}, { argv: ["node"], execArgv: [] })).toBeUndefined();
  });

  it("refuses anything but auto, always and never, naming where it came from", () => {
    expect(resolveBundleMode(undefined, { [LOCAL_ENV.bundle]: " always " })).toBe("always");
    expect(resolveBundleMode(undefined, { [LOCAL_ENV.bundle]: "" })).toBeUndefined();
    const fromEnv = thrown(() => resolveBundleMode(undefined, { [LOCAL_ENV.bundle]: "yes" })) as Error;
    expect(isKind(fromEnv, "invalid")).toBe(true);
    expect(fromEnv.message).toContain(LOCAL_ENV.bundle);
    const fromOption = thrown(() => resolveLocalOptions({ bundle: "sometimes" as never }, {})) as Error;
    expect(isKind(fromOption, "invalid")).toBe(true);
    expect(fromOption.message).toMatch(/^bundle must be one of auto, always, never/);
  });

  it("keeps bundles where the option, then BIGMACHINE_CACHE_DIR, says; else in the default folder", () => {
    expect(resolveLocalOptions({ cacheDir: "/a" }, { [LOCAL_ENV.cacheDir]: "/b" }).cacheDir).toBe("/a");
    expect(resolveLocalOptions({}, { [LOCAL_ENV.cacheDir]: "/b" }).cacheDir).toBe("/b");
    expect(resolveLocalOptions({}, {}).cacheDir).toBeUndefined();
  });
});

describe("debugger flags", () => {
  it("are never part of the driver's own program that machines re-run", () => {
    const execArgv = ["--import", "tsx", "--inspect", "--inspect-brk=0", "--inspect-port", "9230", "--inspect_wait=127.0.0.1:0", "--debug-port=7", "--enable-source-maps"];
    const program = ownProgram({ argv: ["node", "/app/driver.ts", "--n", "3"], execArgv });
    expect(program).toEqual({ entry: "/app/driver.ts", execArgv: ["--import", "tsx", "--enable-source-maps"], args: ["--n", "3"] });
  });

  it("are taken out of an explicit program too", () => {
    const options = resolveLocalOptions({ program: { entry: "/app/m.js", execArgv: ["--inspect=0", "--max-old-space-size=512"] } }, {});
    expect(options.program?.source.execArgv).toEqual(["--max-old-space-size=512"]);
  });

  it("name which machines get an inspector, from the options or BIGMACHINE_INSPECT", () => {
    expect(resolveLocalOptions({}, {}).inspect).toEqual([]);
    expect(resolveLocalOptions({ inspect: [0, 2] }, {}).inspect).toEqual([0, 2]);
    expect(resolveLocalOptions({}, { [LOCAL_ENV.inspect]: "1, 3" }).inspect).toEqual([1, 3]);
    expect(resolveLocalOptions({}, { [LOCAL_ENV.inspect]: "all" }).inspect).toBe("all");
    for (const bad of ["first", "-1", "1.5", "1,,2"]) expect(isKind(thrown(() => resolveLocalOptions({}, { [LOCAL_ENV.inspect]: bad })), "invalid"), bad).toBe(true);
    expect(isKind(thrown(() => resolveLocalOptions({ inspect: [-2] }, {})), "invalid")).toBe(true);
  });
});
