/**
 * @module
 * The start benchmark (`npm run bench`, or `tsx bench/start.ts`): the time from `startMachines(n)` until
 * n machines run on the local system, for each n in {@link COUNTS}, three ways in one run:
 *
 * 1. **source**: machines re-run this driver as it was run, under tsx (`bundle: "never"`);
 * 2. **bundle**: machines run the driver's bundle with plain node (`bundle: "always"`, the default
 *    `auto` when the program bundles), the bundle made (or found in the cache) before the clock starts;
 * 3. **bare**: n bare node processes (`bench/bare-machine.mjs`), forked as the local system forks
 *    machines, that listen on a loopback port and report it over IPC: the floor.
 *
 * This file is also the machines' program: in a machine process `start()` serves and never returns.
 *
 * Rounds interleave the ways and counts (in an order that rotates each round) after a warm-up, since
 * on a shared host the load drifts between rounds more than within one. Each figure is the median of
 * its rounds and each ratio the median of its per-round ratios to bare. Besides times it reports the
 * CPU each machine process used over its life (from the driver's reaped-children times in /proc, Linux
 * only) and the driver's own CPU per machine, the load average, and what making the program ready
 * costs: bundling it afresh, and finding it in the bundle cache. Prints Markdown tables.
 * `BENCH_START_ROUNDS` and `BENCH_START_COUNTS` (e.g. `1,8`) override the run's size.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { isMachineProcess, LocalSystem, start, type BundleMode } from "../src/index.ts";
import { median } from "./measure.ts";

// A machine serves here and never returns.
if (isMachineProcess()) await start();

const COUNTS = (process.env.BENCH_START_COUNTS ?? "1,8,32").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_START_ROUNDS ?? 5);
const PREPARE_ROUNDS = 3;
const BARE_MACHINE = fileURLToPath(new URL("./bare-machine.mjs", import.meta.url));
const SETTLE_MS = 300;

type Way = "source" | "bundle" | "bare";
const WAYS: Way[] = ["source", "bundle", "bare"];

/** One measurement: wall time of the start, and CPU over the processes' lives (ms). */
interface Sample {
  ms: number;
  /** From the start until a machine process reported its address, the median over its machines. */
  addressMs: number;
  /** CPU of the machine processes, start to exit, per machine; NaN where /proc is missing. */
  childCpuMs: number;
  /** CPU of this (driver) process over the start, per machine. */
  driverCpuMs: number;
}

/** This process's CPU and its reaped children's, in ms, from /proc/self/stat (clock ticks of 10 ms). */
function cpuTimes(): { self: number; children: number } {
  const usage = process.cpuUsage();
  const self = (usage.user + usage.system) / 1000;
  if (!existsSync("/proc/self/stat")) return { self, children: NaN };
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of stat(5), cutime and cstime, are the 14th and 15th after the command name.
  return { self, children: (Number(fields[13]) + Number(fields[14])) * 10 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts n machines on a new local system in `mode`, until all run; then shuts them down. */
async function localStart(n: number, bundle: BundleMode): Promise<Sample> {
  const system = new LocalSystem({ bundle, output: false });
  const session = await start({ system });
  const program = await system.machineProgram();
  if (program.bundled !== (bundle === "always")) throw new Error(`machines were to run ${bundle === "always" ? "the bundle" : "the source"}, not ${program.entry}`);
  // The local system records each process's address report as an event: time them.
  const reported: number[] = [];
  const record = system.event.bind(system);
  system.event = (type, fields) => {
    if (type === "local:machineProcess") reported.push(performance.now());
    record(type, fields);
  };
  const cpu0 = cpuTimes();
  const t0 = performance.now();
  const machines = await session.startMachines(n);
  await Promise.all(machines.map((m) => m.waitFor("running")));
  const ms = performance.now() - t0;
  const addressMs = median(reported.map((t) => t - t0));
  const driverCpuMs = (cpuTimes().self - cpu0.self) / n;
  const stopped = machines.find((m) => m.state !== "running");
  if (stopped) throw new Error(`machine ${stopped.addr} did not start: ${stopped.err?.message}`);
  await session.shutdown();
  return { ms, addressMs, driverCpuMs, childCpuMs: (cpuTimes().children - cpu0.children) / n };
}

/** Forks n bare machines as the local system forks machines, until all report their port; then ends them. */
async function bareStart(n: number): Promise<Sample> {
  const cpu0 = cpuTimes();
  const t0 = performance.now();
  const children: ChildProcess[] = [];
  const reported = Array.from({ length: n }, () => {
    const child = fork(BARE_MACHINE, [], { execArgv: [], stdio: ["ignore", "pipe", "pipe", "ipc"], serialization: "json", detached: process.platform !== "win32" });
    children.push(child);
    child.stdout?.resume();
    child.stderr?.resume();
    return new Promise<number>((resolve, reject) => {
      child.once("message", () => resolve(performance.now()));
      child.once("exit", (code) => reject(new Error(`a bare machine exited with code ${code} before it listened`)));
    });
  });
  const at = await Promise.all(reported);
  const ms = performance.now() - t0;
  const addressMs = median(at.map((t) => t - t0));
  const driverCpuMs = (cpuTimes().self - cpu0.self) / n;
  await Promise.all(children.map((child) => new Promise((resolve) => {
    child.once("exit", resolve);
    child.disconnect();
  })));
  return { ms, addressMs, driverCpuMs, childCpuMs: (cpuTimes().children - cpu0.children) / n };
}

function measure(way: Way, n: number): Promise<Sample> {
  if (way === "bare") return bareStart(n);
  return localStart(n, way === "bundle" ? "always" : "never");
}

/** What making the machines' program ready costs: a fresh bundle, and a lookup in a warm cache. */
async function prepareCosts(entry: string): Promise<{ buildMs: number[]; lookupMs: number[]; reused: boolean }> {
  // Imported here, not at the top: the bundler is driver-only, and machines run this file too.
  const { bundleProgram } = await import("../src/ship/bundle.ts");
  const { BundleCache, defaultCacheDir } = await import("../src/ship/bundle-cache.ts");
  const dir = process.env.BIGMACHINE_CACHE_DIR || defaultCacheDir();
  // A bundle of sources changed in the last seconds is not recorded: wait that out, then record one.
  for (let attempt = 0; attempt < 3 && !(await new BundleCache(dir).bundle(entry)).reused; attempt++) await sleep(2_500);
  const buildMs: number[] = [];
  const lookupMs: number[] = [];
  let reused = true;
  for (let i = 0; i < PREPARE_ROUNDS; i++) {
    let t0 = performance.now();
    await bundleProgram({ entry, sourceMap: true, cache: false });
    buildMs.push(performance.now() - t0);
    t0 = performance.now();
    const found = await new BundleCache(dir).bundle(entry);
    lookupMs.push(performance.now() - t0);
    reused = reused && found.reused;
  }
  return { buildMs, lookupMs, reused };
}

const format = (ms: number) => (Number.isNaN(ms) ? "n/a" : Math.round(ms).toLocaleString("en-US"));

async function main(): Promise<void> {
  const entry = fileURLToPath(import.meta.url);
  const loads: number[] = [os.loadavg()[0]];
  const prepare = await prepareCosts(entry);

  process.stderr.write("warming up\n");
  for (const way of WAYS) await measure(way, 1);

  const samples = new Map<string, Sample[]>();
  const cases = COUNTS.flatMap((n) => WAYS.map((way) => ({ n, way })));
  for (let round = 0; round < ROUNDS; round++) {
    const shift = round % cases.length;
    for (const { n, way } of [...cases.slice(shift), ...cases.slice(0, shift)]) {
      await sleep(SETTLE_MS);
      const sample = await measure(way, n);
      const key = `${way}:${n}`;
      samples.set(key, [...(samples.get(key) ?? []), sample]);
    }
    loads.push(os.loadavg()[0]);
    process.stderr.write(`round ${round + 1}/${ROUNDS} done (load ${os.loadavg()[0].toFixed(2)})\n`);
  }

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`bigmachine start benchmark, ${new Date().toISOString()}, Node ${process.version}, ${os.availableParallelism()} cores (${cpu})`);
  console.log(`${ROUNDS} rounds; 1-minute load average ${loads[0].toFixed(2)} at the start, ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} over the run\n`);
  console.log("Time from `startMachines(n)` until n machines run (median of rounds; ratios are medians of per-round ratios to bare):\n");
  console.log("| n | source (tsx) | bundle (plain node) | bare node spawn | source / bare | bundle / bare |");
  console.log("|---:|---:|---:|---:|---:|---:|");
  const of = (way: Way, n: number) => samples.get(`${way}:${n}`)!;
  const ratio = (way: Way, n: number) => median(of(way, n).map((s, i) => s.ms / of("bare", n)[i].ms));
  for (const n of COUNTS) {
    const ms = (way: Way) => `${format(median(of(way, n).map((s) => s.ms)))} ms`;
    console.log(`| ${n} | ${ms("source")} | ${ms("bundle")} | ${ms("bare")} | ${ratio("source", n).toFixed(2)}x | ${ratio("bundle", n).toFixed(2)}x |`);
  }
  console.log("\nWhere a start's time goes (median of rounds, ms): until a machine process reported its address (the median machine), and from then until the last machine ran:\n");
  console.log("| n | source: address / rest | bundle: address / rest | bare: port reported |");
  console.log("|---:|---:|---:|---:|");
  for (const n of COUNTS) {
    const cell = (way: Way) => `${format(median(of(way, n).map((s) => s.addressMs)))} / ${format(median(of(way, n).map((s) => s.ms - s.addressMs)))}`;
    console.log(`| ${n} | ${cell("source")} | ${cell("bundle")} | ${format(median(of("bare", n).map((s) => s.addressMs)))} |`);
  }
  console.log("\nCPU per machine (median of rounds, ms): the machine process over its life, and the driver during the start:\n");
  console.log("| n | source: machine / driver | bundle: machine / driver | bare: process / driver |");
  console.log("|---:|---:|---:|---:|");
  for (const n of COUNTS) {
    const cell = (way: Way) => `${format(median(of(way, n).map((s) => s.childCpuMs)))} / ${format(median(of(way, n).map((s) => s.driverCpuMs)))}`;
    console.log(`| ${n} | ${cell("source")} | ${cell("bundle")} | ${cell("bare")} |`);
  }
  console.log(`\nMaking the program ready (median of ${PREPARE_ROUNDS}): bundling it afresh ${format(median(prepare.buildMs))} ms; finding it in the bundle cache ${format(median(prepare.lookupMs))} ms${prepare.reused ? "" : " (not reused: the sources changed too recently to record)"}.`);
}

await main();
