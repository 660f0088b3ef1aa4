/**
 * @module
 * Page tokens for `entries:list`. A token names the position after the last entry returned, not an
 * offset, so paging stays correct while entries keep arriving. It is bound to the resource names and
 * order of the request that issued it, but not to the filter: the Node client rewrites its 24-hour
 * `timestamp` clause on every call, so a filter-bound token would break its paging (and any filter
 * is well defined from a position). Tokens live 24 hours, as Google's do, and are opaque to clients
 * (base64url JSON). A token may name no position (the start: a first page cut to nothing), and may
 * say it came with an empty page.
 */
import { createHash } from "node:crypto";
import { invalidArgument } from "./api-error.ts";
import type { StoreCursor } from "./entry-store.ts";

/** How long a page token stays valid. */
export const PAGE_TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** The parts of a list request a token is bound to. */
export interface TokenQuery {
  resourceNames: readonly string[];
  orderBy: string;
}

interface TokenBody {
  /** Digest of the query. */
  q: string;
  /** Issue time, ms. */
  t: number;
  /** Cursor: timestamp key, insertId, sequence; null for the start. */
  c: [string, string, number] | null;
  /** 1 when the token came with an empty page. */
  e?: 1;
}

/** Where a token resumes: after `cursor` (from the start when undefined). */
export interface TokenPosition {
  cursor: StoreCursor | undefined;
  /** Whether the page that carried the token was empty. */
  afterEmptyPage: boolean;
}

/** A token resuming `query` after `cursor` (from the start when undefined). */
export function encodePageToken(query: TokenQuery, cursor: StoreCursor | undefined, nowMs: number, afterEmptyPage = false): string {
  const body: TokenBody = { q: digest(query), t: nowMs, c: cursor ? [cursor.timeKey, cursor.insertId, cursor.seq] : null };
  if (afterEmptyPage) body.e = 1;
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/**
 * The position in `token`. Throws a 400 INVALID_ARGUMENT if the token is malformed, expired, or was
 * issued for a different query.
 */
export function decodePageToken(token: string, query: TokenQuery, nowMs: number): TokenPosition {
  const body = parse(token);
  if (!body) throw invalidArgument(`Invalid page token: ${JSON.stringify(token)}`);
  if (body.q !== digest(query)) {
    throw invalidArgument("Invalid page token: the request's resource names and order must match the request that returned it");
  }
  if (nowMs - body.t > PAGE_TOKEN_LIFETIME_MS) throw invalidArgument("Invalid page token: it has expired");
  const afterEmptyPage = body.e === 1;
  if (body.c === null) return { cursor: undefined, afterEmptyPage };
  const [timeKey, insertId, seq] = body.c;
  return { cursor: { timeKey, insertId, seq }, afterEmptyPage };
}

function parse(token: string): TokenBody | undefined {
  try {
    const body = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<TokenBody>;
    const cursor = body.c;
    const wellFormed =
      typeof body.q === "string" &&
      typeof body.t === "number" &&
      (cursor === null ||
        (Array.isArray(cursor) &&
          cursor.length === 3 &&
          typeof cursor[0] === "string" &&
          typeof cursor[1] === "string" &&
          Number.isInteger(cursor[2])));
    return wellFormed ? (body as TokenBody) : undefined;
  } catch {
    return undefined;
  }
}

function digest(query: TokenQuery): string {
  const canonical = JSON.stringify([[...query.resourceNames].sort(), query.orderBy]);
  return createHash("sha256").update(canonical).digest("base64url").slice(0, 22);
}
