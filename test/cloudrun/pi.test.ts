/**
 * The main job: `npm start` with no Google project runs the pi example on the Cloud Run System
 * against emulators it starts itself, in a separate process as a user would. It says it is emulated,
 * names each machine's instance, shows progress and machine output read back through Logging, gives
 * an estimate near pi, exits 0, and leaves no process behind.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { descendantPids, processAlive, TSX } from "../local/helpers.ts";
import { waitUntil } from "../helpers.ts";

const PI_EXAMPLE = fileURLToPath(new URL("../../examples/pi.ts", import.meta.url));

describe("examples/pi.ts on the Cloud Run System", () => {
  it("runs against in-process emulators when no project is configured, and leaves nothing running", { timeout: 120_000 }, async () => {
    // No project: the example must start its own emulators. The Google guard stays in NODE_OPTIONS.
    const { GOOGLE_CLOUD_PROJECT: _p, GCLOUD_PROJECT: _g, BIGMACHINE_CLOUDRUN_PROJECT: _b, ...env } = process.env;
    const child = spawn(process.execPath, [...TSX, PI_EXAMPLE, "--machines", "2", "--samples", "400000", "--batches", "2"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    // Every process the example starts (emulated instances, their machines), seen while it runs.
    const seen = new Set<number>();
    const watch = setInterval(() => {
      for (const pid of descendantPids(child.pid!)) seen.add(pid);
    }, 50);
    const timer = setTimeout(() => child.kill("SIGKILL"), 110_000);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearInterval(watch);
    clearTimeout(timer);

    expect(code, stderr).toBe(0);
    expect(stdout).toContain("pi: no Google Cloud project is configured: running the Cloud Run System against local emulators");
    expect(stdout).toContain("pi: starting 2 machine(s) on cloudrun");
    expect(stdout.match(/^pi: machine bigmachine\/\S+ is up on instance [0-9a-f]+/gm)).toHaveLength(2);
    expect(stdout.match(/^pi: batch \d\/4 from bigmachine\/\S+: 100000 samples/gm)).toHaveLength(4);
    const estimate = Number(/^pi: estimate (\S+) from 400000 samples on 2 machine\(s\)/m.exec(stdout)?.[1]);
    // 400k samples: the standard error is about 0.0026, so 0.05 is a bound that cannot flake.
    expect(Math.abs(estimate - Math.PI)).toBeLessThan(0.05);
    expect(stdout).toContain("pi: that was emulated. On real Cloud Run:");
    // Worker instances and the machines they ran: four processes at least, all gone now.
    expect(seen.size).toBeGreaterThanOrEqual(4);
    await waitUntil("every process the example started is gone", () => [...seen].every((pid) => !processAlive(pid)), 10_000);
  });
});
