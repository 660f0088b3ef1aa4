/**
 * @module
 * Per-method call statistics: counts, errors, bytes each way and latency. Latency percentiles come from
 * a bounded reservoir per method (a uniform sample of every settled call, Vitter's algorithm R), so the
 * memory per method is fixed however many calls it serves; mean and max cover every call.
 */
import type { MethodStats } from "./types.ts";

/** Latency samples kept per method. */
export const RESERVOIR_SIZE = 1024;

class MethodRecord {
  count = 0;
  errors = 0;
  bytesIn = 0;
  bytesOut = 0;
  latencySum = 0;
  latencyMax = 0;
  readonly reservoir: number[] = [];

  addLatency(ms: number): void {
    this.latencySum += ms;
    if (ms > this.latencyMax) this.latencyMax = ms;
    if (this.reservoir.length < RESERVOIR_SIZE) {
      this.reservoir.push(ms);
    } else {
      const slot = Math.floor(Math.random() * this.count);
      if (slot < RESERVOIR_SIZE) this.reservoir[slot] = ms;
    }
  }

  snapshot(): MethodStats {
    const sorted = Float64Array.from(this.reservoir).sort();
    const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return {
      count: this.count,
      errors: this.errors,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      latencyMs: { mean: this.count === 0 ? 0 : this.latencySum / this.count, p50: at(0.5), p99: at(0.99), max: this.latencyMax },
    };
  }
}

/** Statistics of the calls on one side of the wire, by method. */
export class StatsTable {
  readonly #methods = new Map<string, MethodRecord>();
  // The last method counted: calls to one method tend to come in runs.
  #lastMethod = "";
  #lastRecord: MethodRecord | undefined;

  #record(method: string): MethodRecord {
    if (method === this.#lastMethod && this.#lastRecord !== undefined) return this.#lastRecord;
    let record = this.#methods.get(method);
    if (record === undefined) {
      record = new MethodRecord();
      this.#methods.set(method, record);
    }
    this.#lastMethod = method;
    this.#lastRecord = record;
    return record;
  }

  /** Counts one settled call of `method`, with the bytes of its call and reply. */
  settled(method: string, ok: boolean, latencyMs: number, bytesIn: number, bytesOut: number): void {
    const record = this.#record(method);
    record.count++;
    if (!ok) record.errors++;
    record.bytesIn += bytesIn;
    record.bytesOut += bytesOut;
    record.addLatency(latencyMs);
  }

  /** Adds bytes received and sent for `method` outside its call and reply (stream items). */
  bytes(method: string, bytesIn: number, bytesOut: number): void {
    const record = this.#record(method);
    record.bytesIn += bytesIn;
    record.bytesOut += bytesOut;
  }

  /** A copy of the current figures, by method. */
  snapshot(): Record<string, MethodStats> {
    const out: Record<string, MethodStats> = {};
    for (const [method, record] of this.#methods) out[method] = record.snapshot();
    return out;
  }
}
