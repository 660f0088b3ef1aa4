/** The memory guard's parts: a process group's resident memory, Google's message, and the sampling loop. */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive, waitFor } from "../identity/fixtures/processes.ts";
import { guardMemory, memoryExceededMessage, processGroupResidentBytes } from "./memory-guard.ts";

const MiB = 1024 * 1024;
const children: number[] = [];
afterEach(() => {
  for (const pid of children.splice(0)) if (isAlive(pid)) process.kill(-pid, "SIGKILL");
});

describe("processGroupResidentBytes", () => {
  it.runIf(process.platform === "linux")("adds up the resident memory of every process in the group", async () => {
    // A group of two: a parent holding 64 MiB and a child holding 64 MiB, both touched so they are resident.
    const hold = "const b = Buffer.alloc(64 * 1024 * 1024, 1); setInterval(() => b[0]++, 1000); console.log('ready');";
    const script = `require("child_process").spawn(process.execPath, ["-e", ${JSON.stringify(hold)}], { stdio: "inherit" }); ${hold}`;
    const group = spawn(process.execPath, ["-e", script], { detached: true, stdio: ["ignore", "pipe", "ignore"], env: { NODE_OPTIONS: process.env.NODE_OPTIONS ?? "" } });
    children.push(group.pid!);
    let ready = 0;
    group.stdout!.on("data", (chunk: Buffer) => (ready += chunk.toString().split("ready").length - 1));
    await waitFor("both processes to hold their memory", () => ready === 2);
    expect(await processGroupResidentBytes(group.pid!)).toBeGreaterThan(128 * MiB);
    expect(await processGroupResidentBytes(2 ** 22 + 12_345)).toBe(0);
  });
});

describe("memoryExceededMessage", () => {
  it("says it as Cloud Run's system log does", () => {
    expect(memoryExceededMessage(512 * MiB, 530.2 * MiB)).toBe(
      "Memory limit of 512 MiB exceeded with 531 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits",
    );
  });
});

describe("guardMemory", () => {
  it("reports the first usage over the limit once, and samples no more", async () => {
    const usages = [10, 20, 30, 40];
    let samples = 0;
    const exceeded: number[] = [];
    guardMemory({ limitBytes: 25, sampleMs: 1, usage: async () => usages[samples++] ?? 99, onExceeded: (used) => exceeded.push(used) });
    await waitFor("the limit broken", () => exceeded.length > 0);
    await new Promise((r) => setTimeout(r, 20));
    expect(exceeded).toEqual([30]);
    expect(samples).toBe(3);
  });

  it("stops sampling when told", async () => {
    let samples = 0;
    const stop = guardMemory({ limitBytes: 100, sampleMs: 1, usage: async () => (samples++, 0), onExceeded: () => {} });
    await waitFor("a few samples", () => samples >= 3);
    stop();
    const after = samples;
    await new Promise((r) => setTimeout(r, 20));
    expect(samples).toBeLessThanOrEqual(after + 1);
  });
});
