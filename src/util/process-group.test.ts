/**
 * Process groups: a group is signalled as a whole, ids that would reach other processes are refused,
 * and ending a group escalates from SIGTERM to SIGKILL for what ignores SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { processAlive } from "../../test/local/helpers.ts";
import { waitUntil } from "../../test/helpers.ts";
import { endProcessGroup, PROCESS_GROUPS, signalProcessGroup } from "./process-group.ts";

/** Starts a shell leading a group of its own, with two children: one ignores SIGTERM. Resolves with their pids. */
async function groupWithChildren(): Promise<{ leader: ChildProcess; pids: number[] }> {
  const script = `sleep 300 & echo $!; (trap "" TERM; exec sleep 300) & echo $!; wait`;
  const leader = spawn("sh", ["-c", script], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = "";
    leader.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split("\n").filter(Boolean);
      if (lines.length === 2) resolve(lines.map(Number));
    });
    leader.once("exit", () => reject(new Error("the group's leader exited early")));
  });
  return { leader, pids: [leader.pid!, ...pids] };
}

describe.runIf(PROCESS_GROUPS)("process groups", () => {
  let started: number[] = [];

  afterEach(() => {
    for (const pid of started) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    started = [];
  });

  it("refuses ids that would signal every process, this process's group or init", () => {
    for (const pgid of [-1, 0, 1, 1.5, Number.NaN]) expect(signalProcessGroup(pgid, 0), String(pgid)).toBe(false);
  });

  it("signals every process of a group at once", async () => {
    const { leader, pids } = await groupWithChildren();
    started = pids;
    expect(signalProcessGroup(leader.pid!, 0)).toBe(true);
    expect(signalProcessGroup(leader.pid!, "SIGKILL")).toBe(true);
    await waitUntil("the group is gone", () => pids.every((pid) => !processAlive(pid)));
  });

  it("ends a group: SIGTERM first, then SIGKILL for what ignores it", async () => {
    const { pids } = await groupWithChildren();
    started = pids;
    expect(pids.every(processAlive)).toBe(true);
    await endProcessGroup(pids[0], 300);
    await waitUntil("every process of the group is gone", () => pids.every((pid) => !processAlive(pid)));
  });
});
