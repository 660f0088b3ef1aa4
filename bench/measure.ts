/**
 * @module
 * Measuring helpers for the RPC benchmark: operations per second with a fixed number of operations in
 * flight for a bounded time, and the median of repeated runs.
 */

/** One operation: resolves when its round trip completes. */
export type Operation = () => Promise<unknown>;

/** Runs `op` from `inFlight` concurrent loops for `durationMs`; returns completed operations per second. */
export async function opsPerSecond(op: Operation, inFlight: number, durationMs: number): Promise<number> {
  const start = performance.now();
  const end = start + durationMs;
  let done = 0;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return done / ((performance.now() - start) / 1000);
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Megabytes (10^6 bytes) per second for `bytes` moved in `ms`. */
export function megabytesPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** Times `run` (which moves `bytes`) and returns MB/s. */
export async function throughput(bytes: number, run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return megabytesPerSecond(bytes, performance.now() - start);
}
