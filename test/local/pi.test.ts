/**
 * The pi example, run as a user would (a separate process under tsx), with small numbers: it prints its
 * machines, progress and an estimate near pi, shuts down and exits 0.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LOCAL_ENV } from "../../src/systems/local/index.ts";
import { SHORT_KEEPALIVE, TSX } from "./helpers.ts";

const PI_EXAMPLE = fileURLToPath(new URL("../../examples/pi.ts", import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX, PI_EXAMPLE, ...args], {
      env: { ...process.env, [LOCAL_ENV.keepaliveTimeoutMs]: String(SHORT_KEEPALIVE.timeoutMs) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    // Bounded: a hung example fails the test instead of hanging it.
    const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("examples/pi.ts", () => {
  it("estimates pi on two local machines and exits 0", async () => {
    const { code, stdout, stderr } = await run(["--system", "local", "--machines", "2", "--samples", "400000", "--batches", "2"]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("pi: starting 2 machine(s) on local");
    expect(stdout.match(/^pi: machine 127\.0\.0\.1:\d+ is up/gm)).toHaveLength(2);
    expect(stdout.match(/^pi: batch \d\/4 from 127\.0\.0\.1:\d+: 100000 samples/gm)).toHaveLength(4);
    const estimate = Number(/^pi: estimate (\S+) from 400000 samples on 2 machine\(s\)/m.exec(stdout)?.[1]);
    // 400k samples: the standard error is about 0.0026, so 0.05 is a bound that cannot flake.
    expect(Math.abs(estimate - Math.PI)).toBeLessThan(0.05);
    expect(stdout).toMatch(/^pi: error \d\.\d\de[-+]\d+/m);
  });

  it("refuses a bad flag with a clear message and exit code 1", async () => {
    const { code, stderr } = await run(["--system", "local", "--samples", "lots"]);
    expect(code).toBe(1);
    expect(stderr).toContain("--samples must be a positive integer");
  });
});
