import { createPublicKey, createVerify, generateKeyPairSync, type KeyObject } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApp, type ServedApp } from "../serve.ts";
import { createCertsApp, JWK_CERTS_PATH, PEM_CERTS_PATH } from "./certs-app.ts";
import { decodeJwt, signRs256 } from "./jwt.ts";
import { ACCESS_TOKEN_PREFIX, subjectFor, TokenIssuer } from "./token-issuer.ts";

const AUD = "http://127.0.0.1:4000";
const EMAIL = "driver@proj.iam.gserviceaccount.com";

/** An issuer whose clock the test moves, in seconds. */
function clockedIssuer(keyPair: { privateKey: KeyObject; publicKey: KeyObject }, startSeconds = 1_700_000_000) {
  const clock = { seconds: startSeconds };
  const issuer = new TokenIssuer({ keyPair, now: () => clock.seconds * 1000 });
  return { issuer, clock };
}

describe("TokenIssuer", () => {
  let keyPair: { privateKey: KeyObject; publicKey: KeyObject };
  let issuer: TokenIssuer;

  beforeAll(async () => {
    issuer = await TokenIssuer.create();
    keyPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  });

  it("signs ID tokens with the claims the metadata server puts in them", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const { header, claims } = decodeJwt(token);
    expect(header).toEqual({ alg: "RS256", kid: issuer.kid, typ: "JWT" });
    expect(claims).toMatchObject({
      iss: "https://accounts.google.com",
      aud: AUD,
      email: EMAIL,
      email_verified: true,
      sub: subjectFor(EMAIL),
      azp: subjectFor(EMAIL),
    });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
    expect(subjectFor(EMAIL)).toMatch(/^\d{21}$/);
  });

  it("verifies its own tokens, with and without an audience list", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const verified = issuer.verifyIdToken(token);
    expect(verified.ok && verified.claims.email).toBe(EMAIL);
    expect(issuer.verifyIdToken(token, AUD).ok).toBe(true);
    expect(issuer.verifyIdToken(token, ["https://other", AUD]).ok).toBe(true);
  });

  it("refuses a token for another audience", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    expect(issuer.verifyIdToken(token, "http://127.0.0.1:4001")).toEqual({ ok: false, reason: expect.stringMatching(/audience/) });
  });

  it("allows 300 s of clock skew past expiry and refuses after it", () => {
    const { issuer: clocked, clock } = clockedIssuer(keyPair);
    const token = clocked.signIdToken({ aud: AUD, email: EMAIL, lifetimeSeconds: 60 });
    clock.seconds += 60 + 299;
    expect(clocked.verifyIdToken(token).ok).toBe(true);
    clock.seconds += 2;
    expect(clocked.verifyIdToken(token)).toEqual({ ok: false, reason: "token expired" });
  });

  it("refuses a token issued more than 300 s in the future", () => {
    const { issuer: clocked, clock } = clockedIssuer(keyPair);
    const token = clocked.signIdToken({ aud: AUD, email: EMAIL });
    clock.seconds -= 301;
    expect(clocked.verifyIdToken(token)).toEqual({ ok: false, reason: "token used too early" });
  });

  it("refuses a token that lives longer than a day", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL, lifetimeSeconds: 2 * 86_400 });
    expect(issuer.verifyIdToken(token)).toEqual({ ok: false, reason: expect.stringMatching(/too far/) });
  });

  it("refuses a token from another issuer even when its signature is good", () => {
    const { issuer: clocked } = clockedIssuer(keyPair, Math.floor(Date.now() / 1000));
    const now = Math.floor(Date.now() / 1000);
    const forged = signRs256({ iss: "https://evil.example", aud: AUD, sub: "1", iat: now, exp: now + 60 }, keyPair.privateKey, clocked.kid);
    expect(clocked.verifyIdToken(forged)).toEqual({ ok: false, reason: "wrong issuer https://evil.example" });
    const plain = signRs256({ iss: "accounts.google.com", aud: AUD, sub: "1", iat: now, exp: now + 60 }, keyPair.privateKey, clocked.kid);
    expect(clocked.verifyIdToken(plain).ok).toBe(true);
  });

  it("refuses a token whose aud is a list, even one holding the audience asked for", () => {
    const { issuer: clocked } = clockedIssuer(keyPair, Math.floor(Date.now() / 1000));
    const now = Math.floor(Date.now() / 1000);
    const listed = signRs256({ iss: "https://accounts.google.com", aud: [AUD, "https://other"], sub: "1", iat: now, exp: now + 60 }, keyPair.privateKey, clocked.kid);
    expect(clocked.verifyIdToken(listed)).toEqual({ ok: false, reason: expect.stringMatching(/aud is not one string/) });
    expect(clocked.verifyIdToken(listed, AUD).ok).toBe(false);
  });

  it("refuses bad signatures, unknown keys and malformed tokens", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const [head, , sig] = token.split(".");
    const tamperedBody = Buffer.from(JSON.stringify({ ...decodeJwt(token).claims, email: "root@x" })).toString("base64url");
    expect(issuer.verifyIdToken(`${head}.${tamperedBody}.${sig}`)).toEqual({ ok: false, reason: "invalid token signature" });

    const other = new TokenIssuer({ keyPair });
    expect(issuer.verifyIdToken(other.signIdToken({ aud: AUD, email: EMAIL }))).toEqual({
      ok: false,
      reason: expect.stringMatching(/unknown signing key/),
    });
    // Our key id on a token signed with another key.
    const now = Math.floor(Date.now() / 1000);
    const wrongKey = signRs256({ iss: "https://accounts.google.com", aud: AUD, iat: now, exp: now + 60 }, keyPair.privateKey, issuer.kid);
    expect(issuer.verifyIdToken(wrongKey).ok).toBe(false);

    expect(issuer.verifyIdToken("not-a-token")).toEqual({ ok: false, reason: expect.stringMatching(/^malformed token/) });
    expect(issuer.verifyIdToken(`${head}.%%%.${sig}`)).toEqual({ ok: false, reason: expect.stringMatching(/^malformed token/) });
  });

  it("publishes its key as PEM and as a JWK set that both verify its tokens", () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const { signingInput, signature } = decodeJwt(token);
    const pem = issuer.pemCerts()[issuer.kid];
    const [jwk] = issuer.jwks().keys;
    expect(jwk).toMatchObject({ kid: issuer.kid, alg: "RS256", kty: "RSA" });
    for (const key of [createPublicKey(pem), createPublicKey({ key: jwk as any, format: "jwk" })]) {
      expect(createVerify("RSA-SHA256").update(signingInput).verify(key, signature)).toBe(true);
    }
  });

  it("mints access tokens it can recognise later", () => {
    const { issuer: clocked, clock } = clockedIssuer(keyPair);
    const reply = clocked.accessToken(EMAIL, 100);
    expect(reply).toMatchObject({ expires_in: 100, token_type: "Bearer" });
    expect(reply.access_token.startsWith(ACCESS_TOKEN_PREFIX)).toBe(true);
    expect(clocked.verifyAccessToken(reply.access_token)).toEqual({ ok: true, email: EMAIL });
    expect(issuer.verifyAccessToken(reply.access_token).ok).toBe(false);
    expect(clocked.verifyAccessToken(`${reply.access_token}x`).ok).toBe(false);
    expect(clocked.verifyAccessToken("ya29.real-google-token").ok).toBe(false);
    clock.seconds += 101;
    expect(clocked.verifyAccessToken(reply.access_token)).toEqual({ ok: false, reason: "access token expired" });
  });

  it("rejects nonsense signing options", () => {
    expect(() => issuer.signIdToken({ aud: "", email: EMAIL })).toThrow(TypeError);
    expect(() => issuer.signIdToken({ aud: AUD, email: EMAIL, lifetimeSeconds: 0 })).toThrow(RangeError);
  });
});

describe("google-auth-library verifies emulator tokens offline", () => {
  let issuer: TokenIssuer;
  let issuerKeys: { privateKey: KeyObject; publicKey: KeyObject };
  let certs: ServedApp;

  beforeAll(async () => {
    issuerKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    issuer = new TokenIssuer({ keyPair: issuerKeys });
    certs = await serveApp(createCertsApp(issuer));
  });
  afterAll(() => certs.close());

  it("with the PEM certs given directly", async () => {
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const ticket = await new OAuth2Client().verifySignedJwtWithCertsAsync(token, issuer.pemCerts(), AUD, [
      "https://accounts.google.com",
    ]);
    expect(ticket.getPayload()?.email).toBe(EMAIL);
  });

  it("with verifyIdToken pointed at the certs endpoint, and refuses the wrong audience", async () => {
    const client = new OAuth2Client({
      endpoints: {
        oauth2FederatedSignonPemCertsUrl: `${certs.url}${PEM_CERTS_PATH}`,
        oauth2FederatedSignonJwkCertsUrl: `${certs.url}${JWK_CERTS_PATH}`,
      },
    });
    const token = issuer.signIdToken({ aud: AUD, email: EMAIL });
    const ticket = await client.verifyIdToken({ idToken: token, audience: AUD });
    expect(ticket.getPayload()?.aud).toBe(AUD);
    await expect(client.verifyIdToken({ idToken: token, audience: "http://elsewhere" })).rejects.toThrow(/Wrong recipient/);
  });

  it("agrees that a token whose aud is a list does not verify for an audience", async () => {
    const now = Math.floor(Date.now() / 1000);
    const listed = signRs256({ iss: "https://accounts.google.com", aud: [AUD], sub: "1", email: EMAIL, iat: now, exp: now + 60 }, issuerKeys.privateKey, issuer.kid);
    const client = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: `${certs.url}${PEM_CERTS_PATH}` } });
    await expect(client.verifyIdToken({ idToken: listed, audience: AUD })).rejects.toThrow(/Wrong recipient/);
    expect(issuer.verifyIdToken(listed, AUD).ok).toBe(false);
  });

  it("serves the JWK set at /oauth2/v3/certs", async () => {
    const res = await fetch(`${certs.url}${JWK_CERTS_PATH}`);
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    expect(await res.json()).toEqual(issuer.jwks());
  });
});
