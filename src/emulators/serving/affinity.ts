/**
 * @module
 * Cloud Run's session-affinity cookie: set on an answer, it names the instance that served it, so the
 * client's next requests go there while that instance lives and has room (best effort). The value is
 * opaque to clients; here it is the instance id.
 */

/** The cookie Cloud Run uses for session affinity. */
export const AFFINITY_COOKIE = "GAESA";

/** Cloud Run's affinity cookie lives 30 days. */
const MAX_AGE_SECONDS = 30 * 24 * 3600;

/** The instance id named by the affinity cookie in a `Cookie` header, if any. */
export function affinityCookieOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === AFFINITY_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** A `Set-Cookie` value naming `instanceId`. */
export function setAffinityCookie(instanceId: string): string {
  return `${AFFINITY_COOKIE}=${instanceId}; Path=/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly`;
}
