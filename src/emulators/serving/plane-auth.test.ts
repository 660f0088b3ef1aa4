/**
 * The invoker check in front of real instances: what each kind of credential gets, which header wins,
 * what reaches the container, and that a refused request never does.
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TokenIssuer } from "../identity/index.ts";
import { direct, PROJECT_NUMBER, ready, runService, serviceName, startHarness, type Harness } from "./fixtures/plane-harness.ts";

const CALLER = "caller@serving-test.iam.gserviceaccount.com";
const STRANGER = "stranger@serving-test.iam.gserviceaccount.com";
const CUSTOM_AUDIENCE = "https://worker.example.test";

let h: Harness;
let privateUrl: string;
let publicUrl: string;
let openUrl: string;
let noIngressUrl: string;

beforeAll(async () => {
  h = await startHarness();
  h.policies.set(serviceName("private"), { bindings: [{ role: "roles/run.invoker", members: [`serviceAccount:${CALLER}`] }] });
  h.policies.set(serviceName("public"), { bindings: [{ role: "roles/run.invoker", members: ["allUsers"] }] });
  h.policies.set(serviceName("open"), {});
  h.policies.set(serviceName("closed"), {});
  const deployed = await Promise.all([
    h.plane.deploy(runService("private", { concurrency: 10, maxInstances: 1, service: { customAudiences: [CUSTOM_AUDIENCE] } })),
    h.plane.deploy(runService("public", { concurrency: 10, maxInstances: 1 })),
    h.plane.deploy(runService("open", { concurrency: 10, maxInstances: 1, service: { invokerIamDisabled: true } })),
    h.plane.deploy(runService("closed", { concurrency: 10, maxInstances: 1, service: { ingress: "INGRESS_TRAFFIC_NONE", invokerIamDisabled: true } })),
  ]);
  [privateUrl, publicUrl, openUrl, noIngressUrl] = deployed.map((d) => d.uri);
});
afterAll(async () => {
  await h?.close();
});

/** Requests that reached the one instance of a service, read from the instance itself. */
async function served(service: string): Promise<number> {
  const [instance] = ready(h, service);
  return (await direct<{ served: number }>(instance, "/count")).served;
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${url}/whoami`, { headers });
  await res.arrayBuffer();
  return res.status;
}

/** The status of a WebSocket handshake: 101 when it opened (the socket is then closed). */
async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const socket = new WebSocket(url.replace("http:", "ws:"), { headers });
  return new Promise<number>((resolve, reject) => {
    socket.once("unexpected-response", (_req, res: IncomingMessage) => {
      res.resume();
      socket.terminate();
      resolve(res.statusCode ?? 0);
    });
    socket.once("open", () => {
      socket.close();
      resolve(101);
    });
    socket.once("error", reject);
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("a service that needs an invoker", () => {
  it("refuses requests without a valid token before they reach the container", async () => {
    const before = await served("private");
    const otherIssuer = await TokenIssuer.create();
    expect(await status(privateUrl)).toBe(403);
    expect(await status(privateUrl, bearer("not-a-jwt"))).toBe(401);
    expect(await status(privateUrl, bearer(otherIssuer.signIdToken({ aud: privateUrl, email: CALLER })))).toBe(401);
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: "https://elsewhere.example.test", email: CALLER })))).toBe(401);
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: privateUrl, email: STRANGER })))).toBe(403);
    expect(await served("private")).toBe(before);
  });

  it("refuses an expired token with 401", async () => {
    const before = await served("private");
    // The same key with a clock two hours behind: correctly signed, but expired an hour ago.
    const clockBehind = new TokenIssuer({ keyPair: h.keyPair, now: () => Date.now() - 2 * 3600_000 });
    const expired = clockBehind.signIdToken({ aud: privateUrl, email: CALLER });
    expect(h.issuer.verifyIdToken(expired)).toMatchObject({ ok: false, reason: "token expired" });
    expect(await status(privateUrl, bearer(expired))).toBe(401);
    expect(await served("private")).toBe(before);
  });

  it("lets an invoker through with the service URL or a custom audience", async () => {
    const before = await served("private");
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: privateUrl, email: CALLER })))).toBe(200);
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: `${privateUrl}/`, email: CALLER })))).toBe(200);
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: CUSTOM_AUDIENCE, email: CALLER })))).toBe(200);
    expect(await served("private")).toBe(before + 3);
  });

  it("lets the project's default invokers through without a binding", async () => {
    const compute = `${PROJECT_NUMBER}-compute@developer.gserviceaccount.com`;
    expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: privateUrl, email: compute })))).toBe(200);
  });

  it("reads X-Serverless-Authorization before Authorization and forwards it without its signature", async () => {
    const valid = h.issuer.signIdToken({ aud: privateUrl, email: CALLER });
    const res = await fetch(`${privateUrl}/headers`, {
      headers: { "x-serverless-authorization": `Bearer ${valid}`, authorization: "Bearer the-app's-own-token" },
    });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Record<string, string>;
    const [header, payload] = valid.split(".");
    expect(seen["x-serverless-authorization"]).toBe(`Bearer ${header}.${payload}.`);
    expect(seen.authorization).toBe("Bearer the-app's-own-token");

    // The serverless header wins even when it is the bad one.
    const before = await served("private");
    expect(await status(privateUrl, { "x-serverless-authorization": "Bearer not-a-jwt", authorization: `Bearer ${valid}` })).toBe(401);
    expect(await served("private")).toBe(before);
  });

  it("forwards a valid Authorization header unchanged", async () => {
    const valid = h.issuer.signIdToken({ aud: privateUrl, email: CALLER });
    const res = await fetch(`${privateUrl}/headers`, { headers: bearer(valid) });
    expect(((await res.json()) as Record<string, string>).authorization).toBe(`Bearer ${valid}`);
  });

  it("checks WebSocket upgrades too", async () => {
    const before = await served("private");
    expect(await upgradeStatus(privateUrl)).toBe(403);
    expect(await upgradeStatus(privateUrl, bearer("not-a-jwt"))).toBe(401);
    expect(await upgradeStatus(privateUrl, bearer(h.issuer.signIdToken({ aud: privateUrl, email: CALLER })))).toBe(101);
    expect(await served("private")).toBe(before + 1);
  });
});

describe("policy changes", () => {
  it("apply to the next request", async () => {
    const token = h.issuer.signIdToken({ aud: privateUrl, email: STRANGER });
    expect(await status(privateUrl, bearer(token))).toBe(403);
    const original = h.policies.get(serviceName("private"))!;
    h.policies.set(serviceName("private"), { bindings: [{ role: "roles/run.invoker", members: [`serviceAccount:${STRANGER}`] }] });
    try {
      expect(await status(privateUrl, bearer(token))).toBe(200);
      expect(await status(privateUrl, bearer(h.issuer.signIdToken({ aud: privateUrl, email: CALLER })))).toBe(403);
    } finally {
      h.policies.set(serviceName("private"), original);
    }
    expect(await status(privateUrl, bearer(token))).toBe(403);
  });
});

describe("a service that needs no invoker", () => {
  it("serves anyone when allUsers may invoke it", async () => {
    expect(await status(publicUrl)).toBe(200);
  });

  it("serves anyone when the invoker check is disabled", async () => {
    expect(await status(openUrl)).toBe(200);
    expect(await status(openUrl, bearer("not-a-jwt"))).toBe(200);
  });

  it("answers 404 and reaches no container when ingress is NONE", async () => {
    const before = await served("closed");
    expect(await status(noIngressUrl)).toBe(404);
    expect(await served("closed")).toBe(before);
  });
});
