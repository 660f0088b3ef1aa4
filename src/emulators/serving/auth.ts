/**
 * @module
 * The front end's invoker check, as Cloud Run makes it before a request reaches the container:
 *
 * - public services (IAM grants `allUsers` `roles/run.invoker`, or `invokerIamDisabled`) need nothing;
 * - otherwise the request needs `Authorization: Bearer <ID token>`, or `X-Serverless-Authorization`,
 *   which wins when both are present;
 * - no token: 403 (Cloud Run's "Your client does not have permission"); a token that is malformed,
 *   badly signed, expired or for another audience: 401; a valid token whose identity is not an invoker: 403.
 *
 * The audience must be the service URL or one of its custom audiences. An invoker is a member of a
 * `roles/run.invoker` binding on the service (`serviceAccount:`, `user:`, `domain:`,
 * `allAuthenticatedUsers`; groups cannot be resolved here) or one of the project-wide invokers the
 * plane is given, standing in for project Owners and Editors.
 */
import type { IamPolicy } from "../contracts.ts";
import type { RevisionConfig } from "./config.ts";

/** Verifies an ID token's signature and expiry (the emulator's token issuer). */
export type IdTokenVerifier = (token: string) => { ok: true; claims: { aud: string; email?: string } } | { ok: false; reason: string };

/** The verdict on one request. */
export type AuthVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

const INVOKER = "roles/run.invoker";

/** Everything the check needs besides the request headers. */
export interface AuthContext {
  config: RevisionConfig;
  serviceUrl: string;
  policy: IamPolicy | undefined;
  verify: IdTokenVerifier;
  /** Identities with invoker rights on every service of the project (project Owners, Editors, Invokers). */
  projectInvokers: readonly string[];
}

function invokerMembers(policy: IamPolicy | undefined): Set<string> {
  const members = new Set<string>();
  for (const b of policy?.bindings ?? []) if (b.role === INVOKER) for (const m of b.members ?? []) members.add(m);
  return members;
}

function bearer(value: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? "");
  return m?.[1];
}

/** The header that carries the credential: `X-Serverless-Authorization` wins over `Authorization`. */
export function credentialHeader(headers: Record<string, string | string[] | undefined>): "x-serverless-authorization" | "authorization" | undefined {
  if (headers["x-serverless-authorization"]) return "x-serverless-authorization";
  if (headers.authorization) return "authorization";
  return undefined;
}

/** Decides whether a request may reach the container. */
export function checkInvoker(headers: Record<string, string | string[] | undefined>, ctx: AuthContext): AuthVerdict {
  const members = invokerMembers(ctx.policy);
  if (ctx.config.invokerIamDisabled || members.has("allUsers")) return { ok: true };
  const header = credentialHeader(headers);
  const token = header ? bearer(String(headers[header])) : undefined;
  if (!token) {
    return { ok: false, status: 403, message: "Your client does not have permission to get URL from this server: no credentials" };
  }
  const verified = ctx.verify(token);
  if (!verified.ok) return { ok: false, status: 401, message: `Unauthorized: ${verified.reason}` };
  const { aud } = verified.claims;
  const accepted = [ctx.serviceUrl, `${ctx.serviceUrl}/`, ...ctx.config.customAudiences];
  // One audience string, as google-auth-library requires; a list never matches.
  if (typeof aud !== "string" || !accepted.includes(aud)) {
    return { ok: false, status: 401, message: `Unauthorized: the token's audience ${JSON.stringify(aud)} is not this service` };
  }
  const email = verified.claims.email;
  const allowed =
    members.has("allAuthenticatedUsers") ||
    (email !== undefined &&
      (ctx.projectInvokers.includes(email) ||
        members.has(`serviceAccount:${email}`) ||
        members.has(`user:${email}`) ||
        members.has(`domain:${email.split("@")[1]}`)));
  if (!allowed) return { ok: false, status: 403, message: `Forbidden: ${email ?? "the caller"} may not invoke this service` };
  return { ok: true };
}

/** Removes a JWT's signature, as Cloud Run does to `X-Serverless-Authorization` before forwarding it. */
export function stripSignature(headerValue: string): string {
  const token = bearer(headerValue);
  if (!token) return headerValue;
  const parts = token.split(".");
  return parts.length === 3 ? `Bearer ${parts[0]}.${parts[1]}.` : headerValue;
}
