/**
 * @module
 * Paging for list methods: opaque page tokens that remember the last name returned and the query
 * they belong to (so a token cannot be replayed against another list), and the page size rules
 * (0 means the default; negative is an error; large sizes are capped).
 */
import { ApiError } from "./api-error.ts";

/** Page size when the caller asks for none. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest page returned, whatever the caller asks for. */
export const MAX_PAGE_SIZE = 1000;

/** One page of `items`, and the token for the next page if there are more. */
export interface Page<T> {
  items: T[];
  nextPageToken?: string;
}

/**
 * Returns the page of `items` (sorted by `nameOf`, ascending, and unique by it) that follows
 * `pageToken`. `scope` identifies the query; a token minted for another scope is rejected.
 */
export function pageOf<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  request: { pageSize?: number; pageToken?: string; scope: string },
): Page<T> {
  const size = request.pageSize ?? 0;
  if (size < 0) throw new ApiError("INVALID_ARGUMENT", `Invalid page size ${size}: it must not be negative.`);
  const limit = Math.min(size || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const after = request.pageToken ? decodeToken(request.pageToken, request.scope) : undefined;
  const sorted = [...items].sort((a, b) => compare(nameOf(a), nameOf(b)));
  const start = after === undefined ? 0 : sorted.findIndex((item) => compare(nameOf(item), after) > 0);
  const rest = start < 0 ? [] : sorted.slice(start);
  const page = rest.slice(0, limit);
  const last = page.at(-1);
  return rest.length > limit && last !== undefined
    ? { items: page, nextPageToken: encodeToken(request.scope, nameOf(last)) }
    : { items: page };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeToken(scope: string, after: string): string {
  return Buffer.from(JSON.stringify({ scope, after })).toString("base64url");
}

function decodeToken(token: string, scope: string): string {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    decoded = undefined;
  }
  const fields = decoded as { scope?: unknown; after?: unknown } | undefined;
  if (!fields || fields.scope !== scope || typeof fields.after !== "string") {
    throw new ApiError("INVALID_ARGUMENT", "Invalid page token: it does not belong to this list request.");
  }
  return fields.after;
}
