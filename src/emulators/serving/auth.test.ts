/** The invoker check's decisions, on a fake verifier: which header counts, and what each caller gets. */
import { describe, expect, it } from "vitest";
import type { IamPolicy, RunService } from "../contracts.ts";
import { checkInvoker, credentialHeader, stripSignature, type AuthContext, type IdTokenVerifier } from "./auth.ts";
import { revisionConfig } from "./config.ts";

const URL_ = "http://127.0.0.1:40001";
const CALLER = "caller@p.iam.gserviceaccount.com";

/** Tokens are `AUD|EMAIL`; "bad" and anything without a bar fail verification. */
const verify: IdTokenVerifier = (token) => {
  const [aud, email] = token.split("|");
  if (token === "bad" || email === undefined) return { ok: false, reason: "invalid token signature" };
  // A list of audiences, which a real verifier refuses, is passed through here to check the gate refuses it too.
  const audience = (aud.includes(",") ? aud.split(",") : aud) as string;
  return { ok: true, claims: { aud: audience, ...(email ? { email } : {}) } };
};

function context(policy: IamPolicy | undefined, extra: Record<string, any> = {}, projectInvokers: string[] = []): AuthContext {
  const service: RunService = { name: "projects/p/locations/l/services/s", ...extra, template: { containers: [{ image: "i" }] } };
  return { config: revisionConfig(service), serviceUrl: URL_, policy, verify, projectInvokers };
}

const invokers = (...members: string[]): IamPolicy => ({ bindings: [{ role: "roles/run.invoker", members }] });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("checkInvoker", () => {
  it("lets anyone through when allUsers may invoke or the invoker check is disabled", () => {
    expect(checkInvoker({}, context(invokers("allUsers")))).toEqual({ ok: true });
    expect(checkInvoker({}, context(undefined, { invokerIamDisabled: true }))).toEqual({ ok: true });
  });

  it("answers 403 without credentials, 401 for a token that fails verification or names another audience", () => {
    const ctx = context(invokers(`serviceAccount:${CALLER}`));
    expect(checkInvoker({}, ctx)).toMatchObject({ ok: false, status: 403 });
    expect(checkInvoker({ authorization: "Basic abc" }, ctx)).toMatchObject({ ok: false, status: 403 });
    expect(checkInvoker(bearer("bad"), ctx)).toMatchObject({ ok: false, status: 401, message: expect.stringContaining("signature") });
    expect(checkInvoker(bearer(`http://127.0.0.1:9|${CALLER}`), ctx)).toMatchObject({ ok: false, status: 401 });
  });

  it("accepts the service URL (with or without a slash) or a custom audience, and refuses a list holding one", () => {
    const ctx = context(invokers(`serviceAccount:${CALLER}`), { customAudiences: ["https://worker.example"] });
    for (const aud of [URL_, `${URL_}/`, "https://worker.example"]) {
      expect(checkInvoker(bearer(`${aud}|${CALLER}`), ctx), aud).toEqual({ ok: true });
    }
    expect(checkInvoker(bearer(`https://other,${URL_}|${CALLER}`), ctx)).toMatchObject({ ok: false, status: 401 });
  });

  it("answers 403 to a verified caller who is not an invoker", () => {
    const ctx = context(invokers("serviceAccount:someone@else.example"));
    expect(checkInvoker(bearer(`${URL_}|${CALLER}`), ctx)).toMatchObject({ ok: false, status: 403 });
    expect(checkInvoker(bearer(`${URL_}|`), ctx)).toMatchObject({ ok: false, status: 403 });
  });

  it("counts serviceAccount, user and domain members, allAuthenticatedUsers, and project-wide invokers", () => {
    const token = bearer(`${URL_}|${CALLER}`);
    expect(checkInvoker(token, context(invokers(`user:${CALLER}`)))).toEqual({ ok: true });
    expect(checkInvoker(token, context(invokers("domain:p.iam.gserviceaccount.com")))).toEqual({ ok: true });
    expect(checkInvoker(token, context(invokers("allAuthenticatedUsers")))).toEqual({ ok: true });
    expect(checkInvoker(token, context(undefined, {}, [CALLER]))).toEqual({ ok: true });
    // Another role on the service grants nothing.
    expect(checkInvoker(token, context({ bindings: [{ role: "roles/run.viewer", members: [`serviceAccount:${CALLER}`] }] }))).toMatchObject({
      status: 403,
    });
  });

  it("reads X-Serverless-Authorization before Authorization", () => {
    const ctx = context(invokers(`serviceAccount:${CALLER}`));
    const both = { "x-serverless-authorization": "Bearer bad", authorization: `Bearer ${URL_}|${CALLER}` };
    expect(credentialHeader(both)).toBe("x-serverless-authorization");
    expect(checkInvoker(both, ctx)).toMatchObject({ ok: false, status: 401 });
    const swapped = { "x-serverless-authorization": `Bearer ${URL_}|${CALLER}`, authorization: "Bearer bad" };
    expect(checkInvoker(swapped, ctx)).toEqual({ ok: true });
  });
});

describe("stripSignature", () => {
  it("drops a JWT's signature and leaves anything else alone", () => {
    expect(stripSignature("Bearer aaa.bbb.ccc")).toBe("Bearer aaa.bbb.");
    expect(stripSignature("Bearer opaque")).toBe("Bearer opaque");
    expect(stripSignature("Basic abc")).toBe("Basic abc");
  });
});
