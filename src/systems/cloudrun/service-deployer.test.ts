/**
 * The service deployer against the emulated Admin API and serving plane: a service created from
 * nothing, reused as is, updated when it allows too few instances, a failed revision reported with its
 * reason, and an invoker granted without losing other bindings.
 */
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFatal, isKind } from "../../core.ts";
import { startEmulators, type Emulators } from "../../emulators/index.ts";
import { DEPLOYMENT_KEY_ENV } from "./attach-protocol.ts";
import { ensureService, grantInvoker, INVOKER_ROLE, type ServicesClient } from "./service-deployer.ts";

const IMAGE = "deployer-test:1";
// A container that listens on $PORT and says which revision it is and whether it holds a deployment key.
const SERVER = `require("node:http").createServer((_, res) => res.end(JSON.stringify({ revision: process.env.K_REVISION, hasKey: Boolean(process.env.${DEPLOYMENT_KEY_ENV}) }))).listen(Number(process.env.PORT), "127.0.0.1")`;
const FAST = { pollIntervalMs: 20, readyTimeoutMs: 20_000 };

describe("ensureService and grantInvoker against the emulators", () => {
  let emulators: Emulators;
  let client: ServicesClient;

  beforeAll(async () => {
    emulators = await startEmulators({
      images: { [IMAGE]: [process.execPath, "-e", SERVER] },
      admin: { operationDelayMs: 10 },
      serving: { idleTimeoutMs: 60_000, shutdownGraceMs: 1_000, startupTimeoutMs: 10_000, queueTimeoutMs: 5_000 },
    });
    client = new v2.ServicesClient(emulators.runClientOptions());
  });

  afterAll(async () => {
    await client?.close();
    await emulators?.close();
  });

  const base = () => ({ image: IMAGE, project: emulators.projectId, region: emulators.region, ...FAST });

  async function get(uri: string): Promise<{ revision: string; hasKey: boolean }> {
    const idToken = emulators.issuer.signIdToken({ aud: uri, email: emulators.serviceAccountEmail });
    const res = await fetch(uri, { headers: { authorization: `Bearer ${idToken}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { revision: string; hasKey: boolean };
  }

  it("creates the service from nothing, with the worker's settings and a deployment key, serving its URL", async () => {
    const deployed = await ensureService(client, { ...base(), name: "fresh", machines: 3, requestTimeoutMs: 600_000, env: { EXTRA: "yes" }, labels: { team: "tests" } });
    expect(deployed.deploymentKey).toMatch(/^[\w-]{43}$/);
    expect(deployed.requestTimeoutMs).toBe(600_000);
    expect(deployed.name).toBe(`projects/${emulators.projectId}/locations/${emulators.region}/services/fresh`);

    const [service] = await client.getService({ name: deployed.name });
    const template = service.template!;
    expect(template.maxInstanceRequestConcurrency).toBe(1);
    expect(template.sessionAffinity).toBe(true);
    expect(Number(template.timeout?.seconds)).toBe(600);
    expect(Number(template.scaling?.maxInstanceCount)).toBe(3);
    expect(Number(template.scaling?.minInstanceCount ?? 0)).toBe(0);
    expect(String(template.executionEnvironment)).toMatch(/GEN2|^2$/);
    expect(template.containers?.[0]?.resources).toMatchObject({ cpuIdle: false, startupCpuBoost: true });
    expect(template.containers?.[0]?.env).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "EXTRA", value: "yes" }),
        expect.objectContaining({ name: DEPLOYMENT_KEY_ENV, value: deployed.deploymentKey }),
      ]),
    );
    expect(service.labels).toMatchObject({ team: "tests" });
    expect(await get(deployed.uri)).toEqual({ revision: deployed.revision, hasKey: true });
  });

  it("reuses an existing service and its key without a new revision, and updates it when it allows too few machines", async () => {
    const first = await ensureService(client, { ...base(), name: "shared", machines: 2 });
    const again = await ensureService(client, { ...base(), name: "shared", machines: 2 });
    expect(again).toEqual(first);
    const [unchanged] = await client.getService({ name: first.name });
    expect(Number(unchanged.generation)).toBe(1);

    const grown = await ensureService(client, { ...base(), name: "shared", machines: 5 });
    expect(grown.deploymentKey).toBe(first.deploymentKey);
    expect(grown.revision).not.toBe(first.revision);
    const [service] = await client.getService({ name: first.name });
    expect(Number(service.template?.scaling?.maxInstanceCount)).toBe(5);
    expect(await get(grown.uri)).toEqual({ revision: grown.revision, hasKey: true });

    // Fewer machines than the ceiling is no reason to shrink it or to deploy again.
    const fewer = await ensureService(client, { ...base(), name: "shared", machines: 1 });
    expect(fewer).toEqual(grown);
  });

  it("fails with a fatal typed error naming CONTAINER_MISSING when the image maps to no command", async () => {
    const err = await ensureService(client, { ...base(), name: "missing", image: "no-such-image:1" }).catch((e: unknown) => e);
    expect(isKind(err, "unavailable")).toBe(true);
    expect(isFatal(err)).toBe(true);
    expect((err as Error).message).toContain("CONTAINER_MISSING");
  });

  it("refuses bad options before calling the API", async () => {
    await expect(ensureService(client, { ...base(), name: "Bad_Name" })).rejects.toSatisfy((e: unknown) => isKind(e, "invalid"));
    await expect(ensureService(client, { ...base(), name: "short", requestTimeoutMs: 5_000 })).rejects.toSatisfy((e: unknown) => isKind(e, "invalid"));
    await expect(ensureService(client, { ...base(), name: "keyed", env: { [DEPLOYMENT_KEY_ENV]: "mine" } })).rejects.toSatisfy((e: unknown) => isKind(e, "invalid"));
  });

  it("grants the invoker role while keeping the bindings already there", async () => {
    const deployed = await ensureService(client, { ...base(), name: "granted" });
    const viewer = "user:viewer@example.com";
    const first = "serviceAccount:first@example.iam.gserviceaccount.com";
    const second = "serviceAccount:second@example.iam.gserviceaccount.com";
    await client.setIamPolicy({
      resource: deployed.name,
      policy: { bindings: [{ role: "roles/run.viewer", members: [viewer] }, { role: INVOKER_ROLE, members: [first] }] },
    });
    await grantInvoker(client, deployed.name, second);
    await grantInvoker(client, deployed.name, second); // already there: no change
    const [policy] = await client.getIamPolicy({ resource: deployed.name });
    const members = (role: string) => policy.bindings?.find((b) => b.role === role)?.members ?? [];
    expect(members("roles/run.viewer")).toEqual([viewer]);
    expect([...members(INVOKER_ROLE)].sort()).toEqual([first, second].sort());
    await expect(grantInvoker(client, deployed.name, "nobody")).rejects.toSatisfy((e: unknown) => isKind(e, "invalid"));
  });
});
