/**
 * @module
 * Program digests: `sha256:<64 lowercase hex digits>` of a shipped program's bytes. The digest names a
 * program on the wire and in a worker's program store, so it is checked before it is trusted anywhere,
 * in particular before it becomes part of a file path.
 */
import { createHash } from "node:crypto";
import { errorOf } from "../errors.ts";

/** The one digest form shipped programs use. */
export const PROGRAM_DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

const PREFIX = "sha256:";

/** The digest of `code`: `sha256:` and the lowercase hex SHA-256 of its bytes. */
export function programDigest(code: Uint8Array): string {
  return PREFIX + createHash("sha256").update(code).digest("hex");
}

/** Whether `value` is a well-formed program digest. */
export function isProgramDigest(value: unknown): value is string {
  return typeof value === "string" && PROGRAM_DIGEST_PATTERN.test(value);
}

/**
 * The hex part of a well-formed digest. Throws kind `invalid` (fatal) for anything else: another
 * algorithm, upper case, wrong length, or any character that could steer a file path.
 */
export function digestHex(digest: unknown): string {
  if (!isProgramDigest(digest)) {
    const shown = typeof digest === "string" ? JSON.stringify(digest.length > 80 ? `${digest.slice(0, 80)}...` : digest) : typeof digest;
    throw errorOf("invalid", `a program digest must be sha256: and 64 lowercase hex digits, got ${shown}`, { severity: "fatal" });
  }
  return digest.slice(PREFIX.length);
}
