/**
 * @module
 * Identity for the emulators: an ID token issuer with Google's certificate endpoints, and the
 * metadata server that hands tokens to instances and to the driver.
 */
export {
  ACCEPTED_ISSUERS,
  ACCESS_TOKEN_PREFIX,
  CLOCK_SKEW_SECONDS,
  GOOGLE_ISSUER,
  MAX_TOKEN_LIFETIME_SECONDS,
  subjectFor,
  TokenIssuer,
} from "./token-issuer.ts";
export type {
  AccessTokenResponse,
  IdTokenClaims,
  IdTokenVerification,
  SignIdTokenOptions,
  TokenIssuerOptions,
} from "./token-issuer.ts";
export { createCertsApp, JWK_CERTS_PATH, PEM_CERTS_PATH } from "./certs-app.ts";
export { createMetadataApp, METADATA_BASE_PATH, newInstanceId } from "./metadata-app.ts";
export type { MetadataAppOptions } from "./metadata-app.ts";
