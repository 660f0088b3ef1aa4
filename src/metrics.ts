/**
 * @module
 * Process-wide metrics a machine exposes, like Go's expvars: named values that services set or count,
 * read by the driver as one snapshot through the supervisor.
 */

type MetricValue = number | string | boolean | Record<string, unknown>;

const values = new Map<string, MetricValue | (() => MetricValue)>();

/** Sets metric `name` to a value, or to a function evaluated at each snapshot. */
export function setMetric(name: string, value: MetricValue | (() => MetricValue)): void {
  values.set(name, value);
}

/** Adds `delta` (default 1) to the numeric metric `name`, starting from 0. */
export function addMetric(name: string, delta = 1): void {
  const current = values.get(name);
  values.set(name, (typeof current === "number" ? current : 0) + delta);
}

/** Removes metric `name`. */
export function deleteMetric(name: string): void {
  values.delete(name);
}

/** Evaluates every metric; a function that throws reports its error message instead of failing the snapshot. */
export function metricsSnapshot(): Record<string, MetricValue> {
  const out: Record<string, MetricValue> = {};
  for (const [name, v] of values) {
    try {
      out[name] = typeof v === "function" ? v() : v;
    } catch (err) {
      out[name] = `error: ${(err as Error).message}`;
    }
  }
  return out;
}
