/**
 * @module
 * Cloud Run's CPU and memory rules for one instance: Kubernetes quantity syntax (`"1"`, `"500m"`,
 * `"512Mi"`, `"2G"`), the CPU values allowed (fractions from 0.08 below 1, else 1, 2, 4, 6 or 8) and the
 * memory each CPU size allows (cloudrun.md §2).
 */

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** Memory suffixes in Kubernetes quantities: binary (Ki, Mi…) and decimal (k, M…). */
const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  Ki: 1024, Mi: MiB, Gi: GiB, Ti: 1024 ** 4,
  k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12,
};

/** The smallest fractional CPU Cloud Run accepts. */
export const MIN_FRACTIONAL_CPU = 0.08;
/** Whole CPU sizes Cloud Run offers. */
export const WHOLE_CPUS = [1, 2, 4, 6, 8] as const;
/** Default limits Google fills in when a container sets none. */
export const DEFAULT_LIMITS = { cpu: "1000m", memory: "512Mi" } as const;

/** Cores in a CPU quantity (`"1"` → 1, `"500m"` → 0.5), or `undefined` if it is not one. */
export function parseCpu(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  return match[2] === "m" ? value / 1000 : value;
}

/** Bytes in a memory quantity (`"512Mi"`, `"2G"`, `"1073741824"`), or `undefined` if it is not one. */
export function parseMemory(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * MEMORY_UNITS[match[2] ?? ""]!);
}

/** Whether Cloud Run offers `cpu` cores per instance. */
export function isAllowedCpu(cpu: number): boolean {
  return (cpu >= MIN_FRACTIONAL_CPU && cpu < 1) || (WHOLE_CPUS as readonly number[]).includes(cpu);
}

/** The memory (bytes, inclusive) an instance with `cpu` cores may have. */
export function memoryRangeFor(cpu: number, secondGeneration: boolean): { min: number; max: number } {
  const floor = secondGeneration ? 512 * MiB : 128 * MiB;
  if (cpu < 0.5) return { min: floor, max: 512 * MiB };
  if (cpu < 1) return { min: floor, max: GiB };
  if (cpu <= 1) return { min: floor, max: 4 * GiB };
  if (cpu <= 2) return { min: floor, max: 8 * GiB };
  if (cpu <= 4) return { min: 2 * GiB, max: 16 * GiB };
  if (cpu <= 6) return { min: 4 * GiB, max: 24 * GiB };
  return { min: 4 * GiB, max: 32 * GiB };
}

/** `536870912` → `"512Mi"`, `4294967296` → `"4Gi"`. */
export function formatMemory(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}Gi`;
  if (bytes % MiB === 0) return `${bytes / MiB}Mi`;
  return `${bytes}`;
}
