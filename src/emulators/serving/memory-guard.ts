/**
 * @module
 * The memory limit of an instance: what it uses is the resident memory of its processes plus the
 * files it wrote to its own file system (in memory on Cloud Run). Past the limit Cloud Run kills the
 * instance; so does the guard, after logging Google's message. Resident memory is read from `/proc`,
 * so where there is none only the files count.
 */
import { readdir, readFile } from "node:fs/promises";

/** How often usage is sampled. */
export const MEMORY_SAMPLE_MS = 250;

const MiB = 1024 * 1024;

/** Resident bytes of every process in process group `pgid` (0 where `/proc` is missing). */
export async function processGroupResidentBytes(pgid: number): Promise<number> {
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  let total = 0;
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, "utf8");
        // Fields after the command (which may hold spaces) start after its closing parenthesis.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(fields[2]) !== pgid) return;
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
        if (rss) total += Number(rss[1]) * 1024;
      } catch {
        // The process ended while it was being read.
      }
    }),
  );
  return total;
}

/** Google's system-log line for an instance killed for its memory. */
export function memoryExceededMessage(limitBytes: number, usedBytes: number): string {
  return (
    `Memory limit of ${Math.round(limitBytes / MiB)} MiB exceeded with ${Math.ceil(usedBytes / MiB)} MiB used. ` +
    "Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits"
  );
}

/** What the guard watches. */
export interface MemoryGuardOptions {
  limitBytes: number;
  /** Bytes in use now. */
  usage(): Promise<number>;
  /** Called once, with the usage that broke the limit. */
  onExceeded(usedBytes: number): void;
  sampleMs?: number;
}

/** Samples usage until stopped or the limit is broken; returns the function that stops it. */
export function guardMemory(options: MemoryGuardOptions): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const sample = async () => {
    const used = await options.usage().catch(() => 0);
    if (stopped) return;
    if (used > options.limitBytes) {
      stopped = true;
      options.onExceeded(used);
      return;
    }
    timer = setTimeout(sample, options.sampleMs ?? MEMORY_SAMPLE_MS);
    timer.unref();
  };
  void sample();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
