/**
 * Nothing outlives its owner: a driver that is SIGKILLed (no exit hooks, no shutdown), stopped with
 * SIGSTOP (alive, but sending no keepalives), or exits without shutting down leaves no machine process
 * alive once the keepalive timeout has passed, and no process a machine's service started either: each
 * machine leads a process group of its own, which ends with it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { LOCAL_ENV } from "../../src/systems/local/index.ts";
import { fixture, processAlive, SHORT_KEEPALIVE, TSX } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

/** What the driver fixture reports: its machines' pids and the pids of the sleeps they started. */
interface DriverReport {
  pids: number[];
  sleeps: number[];
}

/** Reads the driver's stdout until its `{"pids":[...],"sleeps":[...]}` line. */
function driverReport(driver: ChildProcess): Promise<DriverReport> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    driver.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    driver.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith('{"pids"'));
      if (line) resolve(JSON.parse(line) as DriverReport);
    });
    driver.once("exit", (code, signal) => reject(new Error(`driver exited (${code ?? signal}) before reporting machines:\n${err}`)));
  });
}

describe("a driver that goes away", () => {
  let driver: ChildProcess | undefined;
  let started: number[] = [];

  afterEach(() => {
    // Whatever the outcome, reap what this test started (a stopped driver still dies of SIGKILL).
    driver?.kill("SIGKILL");
    for (const pid of started) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    driver = undefined;
    started = [];
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

  /** Starts the driver and waits for its report of machines and their sleeps. */
  async function startDriver(...args: string[]): Promise<DriverReport> {
    driver = spawnDriver(...args);
    const report = await driverReport(driver);
    started = [...report.pids, ...report.sleeps];
    expect(report.pids).toHaveLength(2);
    expect(report.sleeps).toHaveLength(2);
    return report;
  }

  /** Waits until every process the driver's machines were and started is gone. */
  async function everythingGone(): Promise<void> {
    // Bounded by the keepalive timeout plus a generous margin for a busy host.
    await waitUntil("every machine process and what it started is gone", () => started.every((pid) => !processAlive(pid)), SHORT_KEEPALIVE.timeoutMs + 10_000);
  }

  it("leaves no machine process, nor anything a machine started, alive after being SIGKILLed", async () => {
    await startDriver("2");
    expect(started.every(processAlive)).toBe(true);
    driver!.kill("SIGKILL");
    await everythingGone();
  });

  it("leaves nothing alive once its keepalives stop because it was stopped (SIGSTOP)", async () => {
    await startDriver("2");
    expect(started.every(processAlive)).toBe(true);
    driver!.kill("SIGSTOP");
    await everythingGone();
  });

  it("that exits without shutting down takes its machine processes and what they started with it", async () => {
    await startDriver("2", "exit");
    const exited = new Promise<number | null>((resolve) => (driver!.exitCode !== null ? resolve(driver!.exitCode) : driver!.once("exit", (code) => resolve(code))));
    expect(await exited).toBe(0);
    await everythingGone();
  });
});
