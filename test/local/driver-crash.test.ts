/**
 * Nothing outlives its owner: a driver that is SIGKILLed (no exit hooks, no shutdown) leaves no machine
 * process alive once the keepalive timeout has passed, and neither does one that exits without
 * shutting down.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { LOCAL_ENV } from "../../src/systems/local/index.ts";
import { fixture, processAlive, SHORT_KEEPALIVE, TSX, waitUntil } from "./helpers.ts";

/** Reads the driver's stdout until its `{"pids":[...]}` line. */
function machinePids(driver: ChildProcess): Promise<number[]> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    driver.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    driver.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith('{"pids"'));
      if (line) resolve((JSON.parse(line) as { pids: number[] }).pids);
    });
    driver.once("exit", (code, signal) => reject(new Error(`driver exited (${code ?? signal}) before reporting machines:\n${err}`)));
  });
}

describe("a driver that goes away", () => {
  let driver: ChildProcess | undefined;
  let pids: number[] = [];

  afterEach(() => {
    // Whatever the outcome, reap what this test started.
    driver?.kill("SIGKILL");
    for (const pid of pids) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    driver = undefined;
    pids = [];
  });

  function spawnDriver(...args: string[]): ChildProcess {
    return spawn(process.execPath, [...TSX, fixture("driver.ts"), ...args], {
      env: {
        ...process.env,
        [LOCAL_ENV.keepalivePeriodMs]: String(SHORT_KEEPALIVE.periodMs),
        [LOCAL_ENV.keepaliveTimeoutMs]: String(SHORT_KEEPALIVE.timeoutMs),
        [LOCAL_ENV.keepaliveRpcTimeoutMs]: String(SHORT_KEEPALIVE.rpcTimeoutMs),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  it("leaves no machine process alive after the keepalive timeout", async () => {
    driver = spawnDriver("2");
    pids = await machinePids(driver);
    expect(pids).toHaveLength(2);
    expect(pids.every(processAlive)).toBe(true);
    driver.kill("SIGKILL");
    // Bounded by the keepalive timeout plus a generous margin for a busy host.
    await waitUntil("every machine process is gone", () => pids.every((pid) => !processAlive(pid)), SHORT_KEEPALIVE.timeoutMs + 10_000);
  });

  it("that exits without shutting down takes its machine processes with it", async () => {
    driver = spawnDriver("2", "exit");
    const exited = new Promise<number | null>((resolve) => driver!.once("exit", (code) => resolve(code)));
    pids = await machinePids(driver);
    expect(await exited).toBe(0);
    await waitUntil("every machine process is gone", () => pids.every((pid) => !processAlive(pid)), SHORT_KEEPALIVE.timeoutMs + 10_000);
  });
});
