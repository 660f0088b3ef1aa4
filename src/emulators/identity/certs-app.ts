/**
 * @module
 * Google's public-key endpoints for ID token verification, answering with a {@link TokenIssuer}'s key,
 * so `OAuth2Client.verifyIdToken` verifies emulator tokens once its `endpoints` point here.
 */
import { Hono } from "hono";
import type { TokenIssuer } from "./token-issuer.ts";

/** Paths of the PEM and JWK certificate endpoints, as on Google's host. */
export const PEM_CERTS_PATH = "/oauth2/v1/certs";
export const JWK_CERTS_PATH = "/oauth2/v3/certs";

// Clients cache certificates for max-age; keep it short, since a restarted emulator has a new key.
const CACHE_CONTROL = "public, max-age=300";

/** A hono app serving `GET /oauth2/v1/certs` (`{kid: PEM}`) and `GET /oauth2/v3/certs` (JWK set). */
export function createCertsApp(issuer: TokenIssuer): Hono {
  const app = new Hono();
  app.get(PEM_CERTS_PATH, (c) => {
    c.header("Cache-Control", CACHE_CONTROL);
    return c.json(issuer.pemCerts());
  });
  app.get(JWK_CERTS_PATH, (c) => {
    c.header("Cache-Control", CACHE_CONTROL);
    return c.json(issuer.jwks());
  });
  return app;
}
