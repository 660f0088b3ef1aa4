/**
 * @module
 * The wall clock with nanosecond digits, as Cloud Logging stamps entries: `Date` only has
 * milliseconds, so the time is the wall clock at start-up plus the monotonic high-resolution clock
 * since. Two readings never tie, so entries written in one burst still get distinct timestamps.
 */
import { formatTimestampKey, timestampKeyFromParts } from "./timestamp.ts";

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
const startWallNs = BigInt(Date.now()) * NS_PER_MS;
const startMonotonicNs = process.hrtime.bigint();
let lastNs = 0n;

/** Nanoseconds since the epoch, strictly increasing across calls. */
function nowNs(): bigint {
  const ns = startWallNs + (process.hrtime.bigint() - startMonotonicNs);
  lastNs = ns > lastNs ? ns : lastNs + 1n;
  return lastNs;
}

/** The current time as a timestamp key (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`). */
export function preciseTimestampKey(): string {
  const ns = nowNs();
  return timestampKeyFromParts(Number(ns / NS_PER_S), Number(ns % NS_PER_S))!;
}

/** The current time in RFC 3339 with up to nine fractional digits, as Google writes timestamps. */
export function preciseTimestamp(): string {
  return formatTimestampKey(preciseTimestampKey());
}
