/**
 * `bigmachine emulators` as a user runs it: the export lines it prints are all a driver needs to run on
 * the emulated Cloud Run, since the worker image is mapped to this package's worker. Ctrl-C stops it
 * and everything it started.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { descendantPids, processAlive, TSX } from "../local/helpers.ts";
import { waitUntil } from "../helpers.ts";

const CLI = fileURLToPath(new URL("../../bin/bigmachine.js", import.meta.url));
const ENV_DRIVER = fileURLToPath(new URL("./fixtures/env-driver.ts", import.meta.url));

describe("bigmachine emulators", () => {
  it("prints the environment a driver needs, and a driver with only that runs machines on the worker image", { timeout: 180_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), "bigmachine-cli-driver-"));
    const { GOOGLE_APPLICATION_CREDENTIALS: _c, METADATA_SERVER_DETECTION: _m, GCE_METADATA_HOST: _h, GOOGLE_CLOUD_PROJECT: _p, ...base } = process.env;
    const cli = spawn(process.execPath, [CLI, "emulators", "--project", "cli-project"], { env: base, stdio: ["ignore", "pipe", "pipe"] });
    const seen = new Set<number>();
    const watch = setInterval(() => {
      for (const pid of descendantPids(cli.pid!)) seen.add(pid);
    }, 100);
    try {
      let out = "";
      cli.stdout.on("data", (c: Buffer) => (out += c.toString()));
      let err = "";
      cli.stderr.on("data", (c: Buffer) => (err += c.toString()));
      await waitUntil("the export lines", () => /CLOUD_RUN_REGION=/.test(out), 60_000);
      const printed = Object.fromEntries([...out.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2].replace(/^'|'$/g, "")]));
      expect(Object.keys(printed).sort()).toEqual(["CLOUD_LOGGING_EMULATOR_HOST", "CLOUD_RUN_EMULATOR_HOST", "CLOUD_RUN_REGION", "GCE_METADATA_HOST", "GOOGLE_CLOUD_PROJECT"]);

      const driver = spawn(process.execPath, [...TSX, ENV_DRIVER], { env: { ...base, ...printed, HOME: home, CLOUDSDK_CONFIG: home, ENV_DRIVER_MACHINES: "1" }, stdio: ["ignore", "pipe", "pipe"] });
      let driverOut = "";
      let driverErr = "";
      driver.stdout.on("data", (c: Buffer) => (driverOut += c.toString()));
      driver.stderr.on("data", (c: Buffer) => (driverErr += c.toString()));
      const code = await new Promise<number | null>((resolve) => driver.on("close", resolve));
      expect(code, `${driverErr}\n${err}`).toBe(0);
      expect(driverOut).toMatch(/^ready [0-9a-f]+$/m);
      expect(driverOut).toContain("done");
    } finally {
      clearInterval(watch);
      cli.kill("SIGINT");
      await new Promise((resolve) => cli.on("close", resolve));
      rmSync(home, { recursive: true, force: true });
    }
    expect(cli.exitCode).toBe(0);
    expect(seen.size).toBeGreaterThan(0);
    await waitUntil("everything the emulators started is gone", () => [...seen].every((pid) => !processAlive(pid)), 20_000);
  });
});
