/**
 * @module
 * RFC 3339 timestamps with nanosecond precision, as Cloud Logging takes and returns them. A parsed
 * timestamp is kept as its *key*: the UTC form with exactly nine fractional digits, whose string order
 * is time order, so sorting and filter comparisons never lose the nanoseconds a JavaScript Date drops.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2}))?$/;

/** A parsed timestamp. */
export interface ParsedTimestamp {
  /** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`; its string order is time order. */
  key: string;
  /** Milliseconds since the epoch (sub-millisecond digits dropped). */
  ms: number;
}

/**
 * Parses an RFC 3339 timestamp (`Z` or a numeric offset, 0-9 fractional digits). A bare date
 * (`2026-01-01`) means its midnight UTC, as filters allow. Undefined if malformed or out of range.
 */
export function parseTimestamp(text: string): ParsedTimestamp | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour = "00", minute = "00", second = "00", fraction = "", zone = "Z"] = match;
  const fields = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const [y, mo, d, h, mi, s] = fields;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const offsetMinutes = zone.toUpperCase() === "Z" ? 0 : parseOffsetMinutes(zone);
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  // Reject dates the calendar rolled over (e.g. February 30).
  if (date.getUTCDate() !== d) return undefined;
  const ms = date.getTime() - offsetMinutes * 60_000;
  const utc = new Date(ms);
  if (utc.getUTCFullYear() < 1 || utc.getUTCFullYear() > 9999) return undefined;
  const key = `${utc.toISOString().slice(0, 19)}.${fraction.padEnd(9, "0")}Z`;
  return { key, ms: ms + Number(fraction.padEnd(3, "0").slice(0, 3)) };
}

function parseOffsetMinutes(zone: string): number {
  const sign = zone.startsWith("-") ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
}

/** The key of a millisecond time. */
export function timestampKeyFromMs(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

/**
 * The key of a `seconds` + `nanos` pair, the form structured log lines and proto Timestamps use.
 * Undefined when out of range.
 */
export function timestampKeyFromParts(seconds: number, nanos: number): string | undefined {
  if (!Number.isFinite(seconds) || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) return undefined;
  const wholeSeconds = Math.floor(seconds);
  const date = new Date(wholeSeconds * 1000);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) return undefined;
  return `${date.toISOString().slice(0, 19)}.${String(nanos).padStart(9, "0")}Z`;
}

/** Milliseconds since the epoch of a key. */
export function msFromTimestampKey(key: string): number {
  return Date.parse(`${key.slice(0, 23)}Z`);
}

/**
 * The output form of a key: Z-normalized with 0, 3, 6 or 9 fractional digits, as Google generates.
 */
export function formatTimestampKey(key: string): string {
  const seconds = key.slice(0, 19);
  const fraction = key.slice(20, 29);
  if (fraction === "000000000") return `${seconds}Z`;
  if (fraction.endsWith("000000")) return `${seconds}.${fraction.slice(0, 3)}Z`;
  if (fraction.endsWith("000")) return `${seconds}.${fraction.slice(0, 6)}Z`;
  return `${seconds}.${fraction}Z`;
}
