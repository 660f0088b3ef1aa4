/**
 * @module
 * Local machine addresses: `127.0.0.1:PORT`. Local machines serve on loopback only, so an address
 * naming any other host is refused before anything is dialed (no name lookups, no outside traffic).
 */
import { errorOf } from "../../core.ts";

/** The interface local machines listen on. */
export const LOOPBACK_HOST = "127.0.0.1";

/** A parsed local address. */
export interface LoopbackAddr {
  host: typeof LOOPBACK_HOST;
  /** 0 means "any free port" (only meaningful when listening). */
  port: number;
}

/**
 * Parses `HOST:PORT` where HOST is `127.0.0.1` or `localhost` (both mean the IPv4 loopback).
 * Throws kind `invalid` for anything else.
 */
export function parseLoopbackAddr(addr: string): LoopbackAddr {
  const match = /^(127\.0\.0\.1|localhost):(\d{1,5})$/.exec(addr);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65_535) {
    throw errorOf("invalid", `local address ${JSON.stringify(addr)} is not 127.0.0.1:PORT (local machines serve on loopback only)`, { severity: "fatal" });
  }
  return { host: LOOPBACK_HOST, port };
}

/** Formats a loopback address. */
export function formatLoopbackAddr(port: number): string {
  return `${LOOPBACK_HOST}:${port}`;
}
