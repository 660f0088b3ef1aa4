/**
 * @module
 * A stand-in for Google's token service: it signs OIDC ID tokens shaped like the ones the metadata
 * server mints for a service account, verifies them the way `OAuth2Client.verifyIdToken` does, and
 * hands out opaque access tokens. The RSA key pair lives only in memory, so tokens from one run never
 * verify in another.
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";
import { decodeJwt, hasValidRs256Signature, JwtFormatError, signRs256 } from "./jwt.ts";

/** The issuer Google writes into ID tokens. */
export const GOOGLE_ISSUER = "https://accounts.google.com";
/** Issuers google-auth-library accepts. */
export const ACCEPTED_ISSUERS: readonly string[] = [GOOGLE_ISSUER, "accounts.google.com"];
/** Clock skew google-auth-library allows on both ends of a token's validity. */
export const CLOCK_SKEW_SECONDS = 300;
/** Longest token lifetime google-auth-library accepts. */
export const MAX_TOKEN_LIFETIME_SECONDS = 86_400;
/** Prefix of the access tokens {@link TokenIssuer.accessToken} hands out. */
export const ACCESS_TOKEN_PREFIX = "ya29.emulated.";

/** The claims of an ID token signed by a {@link TokenIssuer}. */
export interface IdTokenClaims {
  iss: string;
  aud: string;
  azp: string;
  sub: string;
  email?: string;
  email_verified?: boolean;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}

/** Outcome of a token check: the claims, or why the token was refused. */
export type IdTokenVerification = { ok: true; claims: IdTokenClaims } | { ok: false; reason: string };

/** The metadata server's `.../token` reply. */
export interface AccessTokenResponse {
  access_token: string;
  expires_in: number;
  token_type: "Bearer";
}

/** Options for {@link TokenIssuer}. */
export interface TokenIssuerOptions {
  /** Milliseconds since the epoch; tests move it to expire tokens. Defaults to `Date.now`. */
  now?: () => number;
  /** An existing RSA key pair; a fresh 2048-bit one is made otherwise. */
  keyPair?: { privateKey: KeyObject; publicKey: KeyObject };
}

/** Options for {@link TokenIssuer.signIdToken}. */
export interface SignIdTokenOptions {
  /** Audience: a service URL or a custom audience. */
  aud: string;
  /** The service account the token speaks for. */
  email: string;
  /** Subject; defaults to a stable 21-digit id derived from `email`, like a service account's unique id. */
  sub?: string;
  /** Seconds until expiry; the metadata server's tokens live 3600 s. */
  lifetimeSeconds?: number;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A stable numeric id for an account, shaped like the unique id Google gives a service account. */
export function subjectFor(email: string): string {
  const digest = BigInt(`0x${createHash("sha256").update(email).digest("hex")}`);
  return `1${(digest % 10n ** 20n).toString().padStart(20, "0")}`;
}

/** Signs and verifies ID tokens and mints access tokens; see the module comment. */
export class TokenIssuer {
  /** Key id written into every token header and used as the key of {@link pemCerts}. */
  readonly kid: string;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #accessTokenKey = randomBytes(32);
  readonly #now: () => number;

  /** Makes an issuer; without `options.keyPair` this generates a key synchronously (a few hundred ms). */
  constructor(options: TokenIssuerOptions = {}) {
    const pair = options.keyPair ?? generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.#privateKey = pair.privateKey;
    this.#publicKey = createPublicKey(pair.privateKey);
    this.#now = options.now ?? Date.now;
    // Google's key ids are 40 hex digits; a digest of the public key keeps ours stable per key.
    const spki = this.#publicKey.export({ format: "der", type: "spki" });
    this.kid = createHash("sha1").update(spki).digest("hex");
  }

  /** Makes an issuer, generating its key pair off the main thread. */
  static async create(options: Omit<TokenIssuerOptions, "keyPair"> = {}): Promise<TokenIssuer> {
    const keyPair = await generateKeyPairAsync("rsa", { modulusLength: 2048 });
    return new TokenIssuer({ ...options, keyPair });
  }

  /** The public key as SPKI PEM, the form `OAuth2Client.verifySignedJwtWithCertsAsync` accepts. */
  get publicKeyPem(): string {
    return this.#publicKey.export({ format: "pem", type: "spki" }).toString();
  }

  /** Certificates in the shape of Google's `/oauth2/v1/certs`: key id to PEM. */
  pemCerts(): Record<string, string> {
    return { [this.kid]: this.publicKeyPem };
  }

  /** Keys in the shape of Google's `/oauth2/v3/certs`: a JWK set. */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.#publicKey.export({ format: "jwk" });
    return { keys: [{ ...jwk, kid: this.kid, alg: "RS256", use: "sig" }] };
  }

  /** Signs an RS256 ID token for `email` with audience `aud`, issued now. */
  signIdToken(options: SignIdTokenOptions): string {
    const lifetime = options.lifetimeSeconds ?? 3600;
    if (!options.aud) throw new TypeError("signIdToken: aud must be a non-empty string");
    if (!options.email) throw new TypeError("signIdToken: email must be a non-empty string");
    if (!(lifetime > 0)) throw new RangeError(`signIdToken: lifetimeSeconds must be positive, got ${lifetime}`);
    const sub = options.sub ?? subjectFor(options.email);
    const iat = Math.floor(this.#now() / 1000);
    const claims: IdTokenClaims = {
      iss: GOOGLE_ISSUER,
      aud: options.aud,
      azp: sub,
      sub,
      email: options.email,
      email_verified: true,
      iat,
      exp: iat + lifetime,
    };
    return signRs256(claims, this.#privateKey, this.kid);
  }

  /**
   * Checks a token as google-auth-library would: our key and signature, `iat` and `exp` present, a
   * lifetime under a day, the clock within the validity window give or take 300 s, a Google issuer, an
   * `aud` that is one string (never a list) and, when `audiences` is given, among them. Never throws.
   */
  verifyIdToken(token: string, audiences?: string | readonly string[]): IdTokenVerification {
    let decoded;
    try {
      decoded = decodeJwt(token);
    } catch (err) {
      if (err instanceof JwtFormatError) return { ok: false, reason: `malformed token: ${err.message}` };
      throw err;
    }
    if (decoded.header.kid !== this.kid) return { ok: false, reason: `unknown signing key ${decoded.header.kid}` };
    if (!hasValidRs256Signature(decoded, this.#publicKey)) return { ok: false, reason: "invalid token signature" };
    const claims = decoded.claims;
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (claims.iat === undefined || Number.isNaN(iat)) return { ok: false, reason: "token has no valid iat" };
    if (claims.exp === undefined || Number.isNaN(exp)) return { ok: false, reason: "token has no valid exp" };
    const now = this.#now() / 1000;
    if (exp >= now + MAX_TOKEN_LIFETIME_SECONDS) return { ok: false, reason: "token expires too far in the future" };
    if (now < iat - CLOCK_SKEW_SECONDS) return { ok: false, reason: "token used too early" };
    if (now > exp + CLOCK_SKEW_SECONDS) return { ok: false, reason: "token expired" };
    if (typeof claims.iss !== "string" || !ACCEPTED_ISSUERS.includes(claims.iss)) {
      return { ok: false, reason: `wrong issuer ${String(claims.iss)}` };
    }
    // google-auth-library compares `aud` as one string: a list of audiences never matches.
    if (typeof claims.aud !== "string") return { ok: false, reason: `the token's aud is not one string: ${JSON.stringify(claims.aud)}` };
    if (audiences !== undefined) {
      const wanted = typeof audiences === "string" ? [audiences] : audiences;
      if (!wanted.includes(claims.aud)) {
        return { ok: false, reason: `wrong audience ${String(claims.aud)}` };
      }
    }
    return { ok: true, claims: claims as IdTokenClaims };
  }

  /**
   * Mints an opaque access token for `email`, as the metadata server's `.../token` does. It starts with
   * {@link ACCESS_TOKEN_PREFIX} and carries its own MAC, so {@link verifyAccessToken} needs no state.
   */
  accessToken(email: string, lifetimeSeconds = 3600): AccessTokenResponse {
    const expiresAt = Math.floor(this.#now() / 1000) + lifetimeSeconds;
    const body = Buffer.from(JSON.stringify({ email, exp: expiresAt })).toString("base64url");
    return {
      access_token: `${ACCESS_TOKEN_PREFIX}${body}.${this.#mac(body)}`,
      expires_in: lifetimeSeconds,
      token_type: "Bearer",
    };
  }

  /** Tells whether `token` came from {@link accessToken} and has not expired, and for whom. Never throws. */
  verifyAccessToken(token: string): { ok: true; email: string } | { ok: false; reason: string } {
    if (!token.startsWith(ACCESS_TOKEN_PREFIX)) return { ok: false, reason: "not an emulator access token" };
    const [body, mac, ...rest] = token.slice(ACCESS_TOKEN_PREFIX.length).split(".");
    const expected = Buffer.from(this.#mac(body ?? ""));
    if (rest.length > 0 || mac === undefined || Buffer.byteLength(mac) !== expected.length
      || !timingSafeEqual(Buffer.from(mac), expected)) {
      return { ok: false, reason: "access token was not issued here" };
    }
    const { email, exp } = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { email: string; exp: number };
    if (this.#now() / 1000 > exp) return { ok: false, reason: "access token expired" };
    return { ok: true, email };
  }

  #mac(body: string): string {
    return createHmac("sha256", this.#accessTokenKey).update(body).digest("base64url");
  }
}
