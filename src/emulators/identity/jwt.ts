/**
 * @module
 * The compact JWS encoding of RS256 JSON Web Tokens: signing, and splitting a token into its verified
 * header and claims. Claim checks (issuer, audience, expiry) belong to the caller.
 */
import { createSign, createVerify, type KeyObject } from "node:crypto";

/** The JOSE header of a token this module signs or reads. */
export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

/** A token split into its decoded parts; the signature is not checked yet. */
export interface DecodedJwt {
  header: JwtHeader;
  claims: Record<string, unknown>;
  /** `base64url(header).base64url(claims)`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    throw new JwtFormatError(`token ${what} is not base64url-encoded JSON`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new JwtFormatError(`token ${what} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Raised by {@link decodeJwt} for a string that is not a three-part JWS. */
export class JwtFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JwtFormatError";
  }
}

/** Signs `claims` with `privateKey` (RSA) as an RS256 JWT carrying `kid` in its header. */
export function signRs256(claims: Record<string, unknown>, privateKey: KeyObject, kid: string): string {
  const signingInput = `${encodeSegment({ alg: "RS256", kid, typ: "JWT" })}.${encodeSegment(claims)}`;
  const signature = createSign("RSA-SHA256").update(signingInput).sign(privateKey);
  return `${signingInput}.${signature.toString("base64url")}`;
}

/** Splits and decodes a compact JWS; throws {@link JwtFormatError} when it is malformed. */
export function decodeJwt(token: string): DecodedJwt {
  const segments = token.split(".");
  if (segments.length !== 3) throw new JwtFormatError(`token has ${segments.length} segments, want 3`);
  const [headerSegment, claimsSegment, signatureSegment] = segments;
  const header = decodeSegment(headerSegment, "header");
  if (typeof header.alg !== "string") throw new JwtFormatError("token header has no alg");
  return {
    header: header as unknown as JwtHeader,
    claims: decodeSegment(claimsSegment, "payload"),
    signingInput: `${headerSegment}.${claimsSegment}`,
    signature: Buffer.from(signatureSegment, "base64url"),
  };
}

/** True when `decoded` is RS256 and its signature verifies under `publicKey`. */
export function hasValidRs256Signature(decoded: DecodedJwt, publicKey: KeyObject): boolean {
  if (decoded.header.alg !== "RS256") return false;
  return createVerify("RSA-SHA256").update(decoded.signingInput).verify(publicKey, decoded.signature);
}
