/**
 * @module
 * The wall clock with nanosecond digits, as Cloud Logging stamps entries: `Date` only has
 * milliseconds, so the time comes from the high-resolution clock aligned to the wall clock at start-up
 * (`performance.timeOrigin`), kept within the millisecond `Date.now()` gives, with the monotonic
 * clock's nanoseconds as the last digits. Readings never tie, so entries written in one burst still get
 * distinct timestamps.
 */
import { performance } from "node:perf_hooks";
import { formatTimestampKey, timestampKeyFromParts } from "./timestamp.ts";

const NS_PER_US = 1_000n;
const US_PER_MS = 1_000n;
const NS_PER_S = 1_000_000_000n;
let lastNs = 0n;

/** Nanoseconds since the epoch, strictly increasing across calls. */
function nowNs(): bigint {
  const wallUs = BigInt(Date.now()) * US_PER_MS;
  let us = BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
  // The two clocks may drift apart (the wall clock is slewed); stay within Date.now()'s millisecond.
  if (us < wallUs) us = wallUs;
  if (us >= wallUs + US_PER_MS) us = wallUs + US_PER_MS - 1n;
  const ns = us * NS_PER_US + (process.hrtime.bigint() % NS_PER_US);
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
