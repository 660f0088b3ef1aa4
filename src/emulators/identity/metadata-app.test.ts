import { GoogleAuth } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { serveApp, type ServedApp } from "../serve.ts";
import { createMetadataApp } from "./metadata-app.ts";
import { TokenIssuer } from "./token-issuer.ts";

const SA = "123456789012-compute@developer.gserviceaccount.com";
const FLAVOR = { "Metadata-Flavor": "Google" };

describe("metadata server", () => {
  let issuer: TokenIssuer;
  let server: ServedApp;

  beforeAll(async () => {
    issuer = await TokenIssuer.create();
    const app = createMetadataApp({
      projectId: "proj",
      projectNumber: "123456789012",
      region: "europe-west1",
      serviceAccountEmail: SA,
      issuer,
      instanceId: "00abc",
    });
    server = await serveApp(app);
  });
  afterAll(() => server.close());

  async function get(path: string, headers: Record<string, string> = FLAVOR) {
    const res = await fetch(`${server.url}${path}`, { headers });
    return { status: res.status, flavor: res.headers.get("metadata-flavor"), body: await res.text() };
  }

  it("answers the project and instance facts Cloud Run exposes", async () => {
    const v1 = "/computeMetadata/v1";
    expect((await get(`${v1}/project/project-id`)).body).toBe("proj");
    expect((await get(`${v1}/project/numeric-project-id`)).body).toBe("123456789012");
    expect((await get(`${v1}/instance/id`)).body).toBe("00abc");
    expect((await get(`${v1}/instance/region`)).body).toBe("projects/123456789012/regions/europe-west1");
    expect((await get(`${v1}/instance/zone`)).body).toBe("projects/123456789012/zones/europe-west1-1");
    expect((await get(`${v1}/instance/service-accounts/default/email`)).body).toBe(SA);
    expect((await get(`${v1}/instance/service-accounts/${SA}/email`)).body).toBe(SA);
  });

  it("lists directories, and answers recursive JSON", async () => {
    const listing = await get("/computeMetadata/v1/instance/service-accounts/default/");
    expect(listing.body.split("\n")).toEqual(["aliases", "email", "identity", "scopes", "token", ""]);
    expect((await get("/computeMetadata/v1/instance")).body).toContain("service-accounts/\n");
    const recursive = JSON.parse((await get("/computeMetadata/v1/project/?recursive=true")).body);
    expect(recursive).toEqual({ projectId: "proj", numericProjectId: "123456789012" });
  });

  it("mints access and ID tokens for the attached account", async () => {
    const token = JSON.parse((await get("/computeMetadata/v1/instance/service-accounts/default/token")).body);
    expect(token).toMatchObject({ token_type: "Bearer", expires_in: expect.any(Number) });
    expect(issuer.verifyAccessToken(token.access_token)).toEqual({ ok: true, email: SA });

    const aud = "http://127.0.0.1:5555";
    const jwt = await get(`/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(aud)}&format=full`);
    const verified = issuer.verifyIdToken(jwt.body, aud);
    expect(verified.ok && verified.claims.email).toBe(SA);
  });

  it("refuses requests without the flavor header, or forwarded ones, with 403", async () => {
    const bare = await get("/computeMetadata/v1/project/project-id", {});
    expect(bare).toMatchObject({ status: 403, flavor: "Google" });
    const wrong = await get("/computeMetadata/v1/project/project-id", { "Metadata-Flavor": "Other" });
    expect(wrong.status).toBe(403);
    const forwarded = await get("/computeMetadata/v1/project/project-id", { ...FLAVOR, "X-Forwarded-For": "10.0.0.1" });
    expect(forwarded.status).toBe(403);
  });

  it("answers 404 for unknown paths, 400 for an identity request without audience, and GET /", async () => {
    expect(await get("/computeMetadata/v1/instance/nope")).toMatchObject({ status: 404, flavor: "Google" });
    expect((await get("/computeMetadata/v1/instance/id/deeper")).status).toBe(404);
    expect((await get("/computeMetadata/v1/instance/service-accounts/other@x/token")).status).toBe(404);
    expect((await get("/elsewhere")).status).toBe(404);
    expect((await get("/computeMetadata/v1/instance/service-accounts/default/identity")).status).toBe(400);
    expect((await get("/computeMetadata/v1/instance/service-accounts/default/identity?audience=a&format=odd")).status).toBe(400);
    expect(await get("/", {})).toMatchObject({ status: 200, flavor: "Google" });
    const post = await fetch(`${server.url}/computeMetadata/v1/instance/id`, { method: "POST", headers: FLAVOR });
    expect(post.status).toBe(405);
  });

  describe("through google-auth-library", () => {
    const saved: Record<string, string | undefined> = {};
    const overrides = {
      GCE_METADATA_HOST: () => server.hostPort,
      // The test setup points ADC at a missing key file and disables metadata detection; undo both here.
      GOOGLE_APPLICATION_CREDENTIALS: () => undefined,
      METADATA_SERVER_DETECTION: () => "ping-only",
    };

    function useEmulatedMetadata() {
      for (const [name, value] of Object.entries(overrides)) {
        saved[name] = process.env[name];
        const next = value();
        if (next === undefined) delete process.env[name];
        else process.env[name] = next;
      }
    }
    afterEach(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    it("getIdTokenClient gives a Bearer token the issuer verifies", async () => {
      useEmulatedMetadata();
      const aud = "http://127.0.0.1:6123";
      const client = await new GoogleAuth().getIdTokenClient(aud);
      const headers = await client.getRequestHeaders();
      const bearer = headers.get("authorization") ?? "";
      expect(bearer).toMatch(/^Bearer /);
      const verified = issuer.verifyIdToken(bearer.slice("Bearer ".length), aud);
      expect(verified).toMatchObject({ ok: true, claims: { email: SA, aud } });
    });

    it("getAccessToken returns an emulator access token", async () => {
      useEmulatedMetadata();
      const token = await new GoogleAuth().getAccessToken();
      expect(token && issuer.verifyAccessToken(token)).toEqual({ ok: true, email: SA });
    });
  });
});
