/**
 * IAM through the whole stack, with the official Run client: project-level invokers (the driver, by
 * default) get in at once; anyone else, anonymous callers included, only once a service-level grant has
 * propagated; revocations take as long. And a driver that is no project-level invoker depends on a
 * fresh grant.
 */
import { fileURLToPath } from "node:url";
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./identity/fixtures/processes.ts";
import { startEmulators, type Emulators } from "./index.ts";

const FIXTURE = fileURLToPath(new URL("./identity/fixtures/instance-server.mjs", import.meta.url));
const IMAGE = "iam-test:1";
const STRANGER = "stranger@elsewhere.iam.gserviceaccount.com";
const INVOKER = "roles/run.invoker";

/** Emulators with short timings but for IAM, and a client. */
async function start(iam: { propagationDelayMs: number; driverIsProjectInvoker?: boolean }) {
  const emulators = await startEmulators({
    images: { [IMAGE]: [process.execPath, FIXTURE] },
    iam,
    logging: { ingestionJitterMs: 0 },
    serving: { idleTimeoutMs: 60_000, shutdownGraceMs: 1_000, startupTimeoutMs: 10_000 },
  });
  return { emulators, services: new v2.ServicesClient(emulators.runClientOptions()) };
}

async function deploy(emulators: Emulators, services: InstanceType<typeof v2.ServicesClient>, serviceId: string) {
  const [operation] = await services.createService({
    parent: `projects/${emulators.projectId}/locations/${emulators.region}`,
    serviceId,
    service: { template: { containers: [{ image: IMAGE }] } },
  });
  const [service] = await operation.promise();
  return { name: service.name!, uri: service.uri! };
}

/** The status a request to `uri` gets, as `email` (with a valid ID token) or anonymously. */
async function statusAs(emulators: Emulators, uri: string, email?: string): Promise<number> {
  const headers: Record<string, string> = email ? { authorization: `Bearer ${emulators.issuer.signIdToken({ aud: uri, email })}` } : {};
  const res = await fetch(uri, { headers });
  await res.arrayBuffer();
  return res.status;
}

describe("IAM with the driver a project-level invoker (the default)", () => {
  let emulators: Emulators;
  let services: InstanceType<typeof v2.ServicesClient>;

  beforeAll(async () => {
    ({ emulators, services } = await start({ propagationDelayMs: 60_000 }));
  });
  afterAll(async () => {
    await services?.close();
    await emulators?.close();
  });

  it("lets the driver in at once, and no one else, on a service without bindings", async () => {
    const { uri } = await deploy(emulators, services, "fresh");
    expect(await statusAs(emulators, uri, emulators.serviceAccountEmail)).toBe(200);
    expect(await statusAs(emulators, uri, STRANGER)).toBe(403);
    expect(await statusAs(emulators, uri)).toBe(403);
  });

  it("applies a grant to a member only once it has propagated, though getIamPolicy shows it at once", async () => {
    const { name, uri } = await deploy(emulators, services, "granted");
    await services.setIamPolicy({ resource: name, policy: { bindings: [{ role: INVOKER, members: [`serviceAccount:${STRANGER}`] }] } });
    const [policy] = await services.getIamPolicy({ resource: name });
    expect(policy.bindings?.[0]?.members).toEqual([`serviceAccount:${STRANGER}`]);
    expect(await statusAs(emulators, uri, STRANGER)).toBe(403);
    expect(emulators.admin.iamChangePending(name)).toBe(true);
    emulators.admin.propagateIamNow();
    expect(await statusAs(emulators, uri, STRANGER)).toBe(200);
  });

  it("makes a service public, and private again, only once each change has propagated", async () => {
    const { name, uri } = await deploy(emulators, services, "public");
    await services.setIamPolicy({ resource: name, policy: { bindings: [{ role: INVOKER, members: ["allUsers"] }] } });
    expect(await statusAs(emulators, uri)).toBe(403);
    emulators.admin.propagateIamNow();
    expect(await statusAs(emulators, uri)).toBe(200);
    await services.setIamPolicy({ resource: name, policy: { bindings: [] } });
    // The revocation is on its way: the old policy still holds.
    expect(await statusAs(emulators, uri)).toBe(200);
    emulators.admin.propagateIamNow();
    expect(await statusAs(emulators, uri)).toBe(403);
  });
});

describe("IAM with a driver that is no project-level invoker", () => {
  let emulators: Emulators;
  let services: InstanceType<typeof v2.ServicesClient>;

  beforeAll(async () => {
    ({ emulators, services } = await start({ propagationDelayMs: 300, driverIsProjectInvoker: false }));
  });
  afterAll(async () => {
    await services?.close();
    await emulators?.close();
  });

  it("refuses the driver until its service-level grant has propagated by itself", async () => {
    const { name, uri } = await deploy(emulators, services, "needs-grant");
    expect(await statusAs(emulators, uri, emulators.serviceAccountEmail)).toBe(403);
    await services.setIamPolicy({ resource: name, policy: { bindings: [{ role: INVOKER, members: [`serviceAccount:${emulators.serviceAccountEmail}`] }] } });
    await waitFor("the grant to propagate", async () => (await statusAs(emulators, uri, emulators.serviceAccountEmail)) === 200);
    expect(emulators.admin.iamChangePending(name)).toBe(false);
  });
});
