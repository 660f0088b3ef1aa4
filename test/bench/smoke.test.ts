/**
 * The benchmarks still run: each program of `npm run bench`, at its smallest size, through to its
 * tables. Nothing here is timed or compared; a benchmark that stopped working (a setting the emulators
 * now refuse, an API that moved) fails here instead of on the day someone measures with it.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { TSX } from "../local/helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bench/<file>` under tsx with `env` added; resolves when it exits. */
function runBench(file: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX, `bench/${file}`], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The rows of the Markdown tables in `text` whose first cell starts with `label`. */
function rows(text: string, label: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`| ${label}`));
}

describe("the benchmarks run at their smallest size", () => {
  it("bench/rpc.ts", { timeout: 180_000 }, async () => {
    const run = await runBench("rpc.ts", { BENCH_ROUNDS: "1", BENCH_CALL_MS: "50", BENCH_STREAM_CHUNKS: "16" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/\|---/);
  });

  it("bench/start.ts", { timeout: 180_000 }, async () => {
    const run = await runBench("start.ts", { BENCH_START_ROUNDS: "1", BENCH_START_COUNTS: "1" });
    expect(run.code, run.stderr).toBe(0);
    expect(rows(run.stdout, "1 |")).not.toHaveLength(0);
  });

  it("bench/cloudrun.ts, against the emulators", { timeout: 300_000 }, async () => {
    const run = await runBench("cloudrun.ts", {
      BENCH_ROUNDS: "1",
      BENCH_CALL_MS: "50",
      BENCH_STREAM_CHUNKS: "16",
      BENCH_RELAY_CHUNKS: "16",
      BENCH_START_COUNTS: "1",
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/^failed:/m);
    for (const test of ["start 1 machine", "small calls, 1 in flight", "small calls, 64 in flight", "stream download", "stream upload", "machine to machine"]) {
      expect(rows(run.stdout, test), test).not.toHaveLength(0);
    }
  });
});
