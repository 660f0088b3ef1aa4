/**
 * The Admin API's optional permission checks through the official client: with checks on, deploying a
 * service whose template names a service account needs `iam.serviceAccounts.actAs` on it, and a caller
 * without it gets Google's 403.
 */
import { v2 } from "@google-cloud/run";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenIssuer } from "../identity/index.ts";
import { serveApp, type ServedApp } from "../serve.ts";
import { FakeServing } from "./fake-serving.ts";
import { RunAdminEmulator } from "./index.ts";

const PARENT = "projects/perm-test/locations/europe-west1";
const DEPLOYER = "deployer@perm-test.iam.gserviceaccount.com";
const OUTSIDER = "outsider@example.com";
const RUNTIME = "runtime@perm-test.iam.gserviceaccount.com";
const OTHER_RUNTIME = "other@perm-test.iam.gserviceaccount.com";

describe("deploy permission checks", () => {
  let issuer: TokenIssuer;
  let admin: RunAdminEmulator;
  let served: ServedApp;
  const clients: InstanceType<typeof v2.ServicesClient>[] = [];

  /** A client whose requests carry an access token for `email`. */
  function clientFor(email: string) {
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: issuer.accessToken(email).access_token, expiry_date: Date.now() + 3_600_000 });
    const options = { fallback: true, apiEndpoint: "127.0.0.1", port: served.port, protocol: "http", authClient: auth };
    const client = new v2.ServicesClient(options as unknown as ConstructorParameters<typeof v2.ServicesClient>[0]);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    issuer = await TokenIssuer.create();
    admin = new RunAdminEmulator({
      projectId: "perm-test",
      serving: new FakeServing(),
      callerOf: (authorization) => {
        const verified = issuer.verifyAccessToken((authorization ?? "").replace(/^Bearer /, ""));
        return verified.ok ? verified.email : undefined;
      },
      permissions: { actAs: { [RUNTIME]: [`serviceAccount:${DEPLOYER}`] } },
    });
    served = await serveApp(admin.app);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await admin?.close();
    await served?.close();
  });

  const template = (serviceAccount?: string) => ({ containers: [{ image: "worker:1" }], ...(serviceAccount ? { serviceAccount } : {}) });

  it("lets a caller holding actAs on the template's account deploy", async () => {
    const [operation] = await clientFor(DEPLOYER).createService({ parent: PARENT, serviceId: "allowed", service: { template: template(RUNTIME) } });
    const [service] = await operation.promise();
    expect(service.template?.serviceAccount).toBe(RUNTIME);
  });

  it("refuses a caller without actAs with 403 PERMISSION_DENIED, and creates nothing", async () => {
    const failure = await clientFor(OUTSIDER)
      .createService({ parent: PARENT, serviceId: "refused", service: { template: template(RUNTIME) } })
      .then(() => undefined, (err: { code: number; message: string }) => err);
    expect(failure).toBeDefined();
    expect([403, 7]).toContain(failure!.code);
    expect(failure!.message).toContain(`Permission 'iam.serviceaccounts.actAs' denied on service account ${RUNTIME} (or it may not exist).`);
    expect(admin.policyOf(`${PARENT}/services/refused`)).toBeUndefined();
  });

  it("checks updates too, and needs no permission for a template that names no account", async () => {
    const deployer = clientFor(DEPLOYER);
    const [created] = await deployer.createService({ parent: PARENT, serviceId: "moving", service: { template: template() } });
    const [service] = await created.promise();
    const failure = await deployer
      .updateService({ service: { name: service.name, template: template(OTHER_RUNTIME) } })
      .then(() => undefined, (err: { code: number; message: string }) => err);
    expect([403, 7]).toContain(failure?.code);
    expect(failure?.message).toContain(OTHER_RUNTIME);

    admin.permissions!.allowActAs(OTHER_RUNTIME, `serviceAccount:${DEPLOYER}`);
    const [updated] = await deployer.updateService({ service: { name: service.name, template: template(OTHER_RUNTIME) } });
    expect((await updated.promise())[0].template?.serviceAccount).toBe(OTHER_RUNTIME);
  });

  it("answers in Google's error shape", async () => {
    const res = await fetch(`${served.url}/v2/${PARENT}/services?serviceId=shape`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${issuer.accessToken(OUTSIDER).access_token}` },
      body: JSON.stringify({ template: template(RUNTIME) }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: {
        code: 403,
        status: "PERMISSION_DENIED",
        message: `Permission 'iam.serviceaccounts.actAs' denied on service account ${RUNTIME} (or it may not exist).`,
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "IAM_PERMISSION_DENIED",
            domain: "iam.googleapis.com",
            metadata: { permission: "iam.serviceAccounts.actAs", resource: `projects/-/serviceAccounts/${RUNTIME}` },
          },
        ],
      },
    });
  });
});
