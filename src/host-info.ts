/**
 * @module
 * What a machine reports about its host: memory, disk and load. Memory is measured against the cgroup
 * limit when one applies (containers such as Cloud Run instances), since the host's total would hide
 * the limit that actually kills the process.
 */
import { statfs } from "node:fs/promises";
import os from "node:os";

/** Memory of the machine, in bytes. */
export interface MemInfo {
  /** Memory available to the machine: the cgroup limit if set, else the host's total. */
  total: number;
  /** Memory in use, by the same measure as `total`. */
  used: number;
  /** `used / total * 100`. */
  percent: number;
  /** This process's resident set, and its V8 heap. */
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

/** Disk usage of the file system holding the machine's temporary directory, in bytes. */
export interface DiskInfo {
  path: string;
  total: number;
  free: number;
  used: number;
  percent: number;
}

/** Load averages over 1, 5 and 15 minutes, and the number of processors. */
export interface LoadInfo {
  load1: number;
  load5: number;
  load15: number;
  cpus: number;
}

/** Reads memory usage against the effective limit. */
export function memInfo(): MemInfo {
  const usage = process.memoryUsage();
  const hostTotal = os.totalmem();
  const limit = typeof process.constrainedMemory === "function" ? process.constrainedMemory() : 0;
  const constrained = limit > 0 && limit < hostTotal;
  const total = constrained ? limit : hostTotal;
  // Under a cgroup limit only this container counts, and the process is the container's main tenant.
  const used = constrained ? usage.rss : hostTotal - os.freemem();
  return { total, used, percent: (used / total) * 100, rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal };
}

/** Reads disk usage of `path` (default: the OS temporary directory). */
export async function diskInfo(path = os.tmpdir()): Promise<DiskInfo> {
  const s = await statfs(path);
  const total = s.blocks * s.bsize;
  const free = s.bavail * s.bsize;
  const used = total - s.bfree * s.bsize;
  return { path, total, free, used, percent: total > 0 ? (used / total) * 100 : 0 };
}

/** Reads load averages. */
export function loadInfo(): LoadInfo {
  const [load1, load5, load15] = os.loadavg();
  return { load1, load5, load15, cpus: os.availableParallelism() };
}
