/**
 * @module
 * CPU time by process for the Cloud Run benchmark: which process of a path (driver, emulated front end,
 * worker, machine) spends how much per call or per megabyte. Reads `/proc/PID/stat` (user and system
 * time in clock ticks), so it works on Linux only; elsewhere it records nothing. Totals add up over
 * every round of a figure, which keeps the ticks' coarseness small against the total.
 */
import { readFileSync } from "node:fs";

/** Linux's USER_HZ: the unit of the times in `/proc/PID/stat`. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of `pid` in milliseconds; undefined when it cannot be read. */
export function cpuTimeMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name, in parentheses, may hold spaces: fields are counted from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / TICKS_PER_SECOND : undefined;
}

/** CPU time by process, summed over the runs of each figure, and the units (calls, MB) they did. */
export class CpuLedger {
  /** The processes watched, by the name they are reported under. */
  readonly processes: Map<string, number>;
  readonly #totals = new Map<string, { units: number; ms: Map<string, number> }>();

  constructor(processes: Record<string, number | undefined>) {
    this.processes = new Map(Object.entries(processes).filter((entry): entry is [string, number] => entry[1] !== undefined));
  }

  /** Runs `run`, which does some units of work, and books every process's CPU time to `figure`. */
  async measure<T>(figure: string, run: () => Promise<T>, unitsOf: (result: T) => number): Promise<T> {
    const before = this.#snapshot();
    const result = await run();
    const after = this.#snapshot();
    const total = this.#totals.get(figure) ?? { units: 0, ms: new Map<string, number>() };
    total.units += unitsOf(result);
    for (const [name, ms] of after) {
      const start = before.get(name);
      if (start !== undefined) total.ms.set(name, (total.ms.get(name) ?? 0) + ms - start);
    }
    this.#totals.set(figure, total);
    return result;
  }

  /** Microseconds of CPU per unit, by process, for `figure`; undefined when nothing was booked. */
  perUnitMicros(figure: string): Map<string, number> | undefined {
    const total = this.#totals.get(figure);
    if (!total || total.units === 0) return undefined;
    return new Map([...total.ms].map(([name, ms]) => [name, (ms * 1000) / total.units]));
  }

  #snapshot(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, pid] of this.processes) {
      const ms = cpuTimeMs(pid);
      if (ms !== undefined) out.set(name, ms);
    }
    return out;
  }
}

/** Runs `op` from `inFlight` concurrent loops for `durationMs`: the operations completed and the time taken. */
export async function countOps(op: () => Promise<unknown>, inFlight: number, durationMs: number): Promise<{ ops: number; ms: number }> {
  const start = performance.now();
  const end = start + durationMs;
  let ops = 0;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      ops++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return { ops, ms: performance.now() - start };
}
