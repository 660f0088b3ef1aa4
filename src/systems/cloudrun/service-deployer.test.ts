/**
 * The service deployer against the emulated Admin API and serving plane: a service created from
 * nothing (labelled managed), reused as is, updated when it allows too few instances, a failed
 * revision reported with its reason, an invoker granted without losing other bindings, a service
 * deleted; and services bigmachine did not deploy, used as they are or refused, never changed.
 */
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFatal, isKind } from "../../core.ts";
import { startEmulators, type Emulators } from "../../emulators/index.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "./attach-protocol.ts";
import { deleteService, ensureService, findService, grantInvoker, INVOKER_ROLE, readAgainOnReset, type ServicesClient } from "./service-deployer.ts";
import { NEW_DEPLOYMENT_KEY_SHELL } from "./service-errors.ts";
import { MANAGED_LABEL, resolveServiceOptions, workerServiceSpec, type RunService } from "./service-spec.ts";

const IMAGE = "deployer-test:1";
// A container that listens on $PORT and says which revision it is and whether it holds a deployment key.
const SERVER = `require("node:http").createServer((_, res) => res.end(JSON.stringify({ revision: process.env.K_REVISION, hasKey: Boolean(process.env.${DEPLOYMENT_KEY_ENV}) }))).listen(Number(process.env.PORT), "0.0.0.0")`;
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
    expect(service.labels).toMatchObject({ team: "tests", [MANAGED_LABEL.key]: MANAGED_LABEL.value });
    expect(deployed).toMatchObject({ managed: true, change: "created" });
    expect(await get(deployed.uri)).toEqual({ revision: deployed.revision, hasKey: true });
  });

  it("reuses an existing service and its key without a new revision, and updates it when it allows too few machines", async () => {
    const first = await ensureService(client, { ...base(), name: "shared", machines: 2 });
    const again = await ensureService(client, { ...base(), name: "shared", machines: 2 });
    expect(again).toEqual({ ...first, change: "unchanged" });
    const [unchanged] = await client.getService({ name: first.name });
    expect(Number(unchanged.generation)).toBe(1);

    const grown = await ensureService(client, { ...base(), name: "shared", machines: 5 });
    expect(grown.change).toBe("updated");
    expect(grown.deploymentKey).toBe(first.deploymentKey);
    expect(grown.revision).not.toBe(first.revision);
    const [service] = await client.getService({ name: first.name });
    expect(Number(service.template?.scaling?.maxInstanceCount)).toBe(5);
    expect(await get(grown.uri)).toEqual({ revision: grown.revision, hasKey: true });

    // Fewer machines than the ceiling is no reason to shrink it or to deploy again.
    const fewer = await ensureService(client, { ...base(), name: "shared", machines: 1 });
    expect(fewer).toEqual({ ...grown, change: "unchanged" });
    const [labelled] = await client.getService({ name: first.name });
    expect(labelled.labels?.[MANAGED_LABEL.key]).toBe(MANAGED_LABEL.value);
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
    expect(await grantInvoker(client, deployed.name, second)).toBe(true);
    expect(await grantInvoker(client, deployed.name, second)).toBe(false); // already there: no change
    const [policy] = await client.getIamPolicy({ resource: deployed.name });
    const members = (role: string) => policy.bindings?.find((b) => b.role === role)?.members ?? [];
    expect(members("roles/run.viewer")).toEqual([viewer]);
    expect([...members(INVOKER_ROLE)].sort()).toEqual([first, second].sort());
    await expect(grantInvoker(client, deployed.name, "nobody")).rejects.toSatisfy((e: unknown) => isKind(e, "invalid"));
  });

  it("deletes a service, and says when there is none to delete", async () => {
    const deployed = await ensureService(client, { ...base(), name: "doomed" });
    await deleteService(client, deployed.name);
    expect(await findService(client, deployed.name)).toBeUndefined();
    await expect(deleteService(client, deployed.name)).rejects.toSatisfy((e: unknown) => isKind(e, "not-exist"));
  });

  describe("a service bigmachine did not deploy", () => {
    /** Creates a service the way gcloud or cloudbuild.yaml would: no managed-by label. */
    async function deployByHand(name: string, service: RunService): Promise<string> {
      const [operation] = await client.createService({ parent: `projects/${emulators.projectId}/locations/${emulators.region}`, serviceId: name, service });
      await operation.promise();
      return `projects/${emulators.projectId}/locations/${emulators.region}/services/${name}`;
    }
    const generation = async (name: string) => Number((await client.getService({ name }))[0].generation);

    it("is used as it is when its settings serve, quantities written otherwise included", async () => {
      const key = newDeploymentKey();
      const spec = workerServiceSpec(resolveServiceOptions({ ...base(), name: "by-hand", machines: 4 }), key, 20);
      spec.template!.containers![0]!.resources!.limits = { cpu: "1000m", memory: "0.5Gi" };
      const name = await deployByHand("by-hand", spec);
      const used = await ensureService(client, { ...base(), name: "by-hand", machines: 3 });
      expect(used).toMatchObject({ name, deploymentKey: key, managed: false, change: "unchanged" });
      expect(await generation(name)).toBe(1);
      expect(await get(used.uri)).toEqual({ revision: used.revision, hasKey: true });
    });

    it("is refused, never changed, when a setting does not serve: one error naming each and the gcloud fix", async () => {
      const name = await deployByHand("loose", {
        template: {
          containers: [{ image: IMAGE, env: [{ name: DEPLOYMENT_KEY_ENV, value: newDeploymentKey() }] }],
          scaling: { maxInstanceCount: 2 },
        },
      });
      const err = await ensureService(client, { ...base(), name: "loose", machines: 5 }).catch((e: unknown) => e);
      expect(isKind(err, "precondition")).toBe(true);
      expect(isFatal(err)).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain(`gcloud run services update loose --region ${emulators.region} --project ${emulators.projectId} `);
      expect(message).toContain("requests per instance: 80, wanted 1");
      expect(message).toContain("session affinity: off, wanted on");
      expect(message).toContain("maximum instances: 2, wanted 5");
      for (const flag of ["--concurrency=1", "--session-affinity", "--no-cpu-throttling", "--cpu-boost", "--execution-environment=gen2", "--max-instances=5"]) {
        expect(message).toContain(flag);
      }
      // Cloud Run filled in 1 CPU and 512 MiB, which serve: they are not named.
      expect(message).not.toContain("--cpu=");
      expect(message).not.toContain("--memory=");
      expect(message).not.toContain(DEPLOYMENT_KEY_ENV);
      expect(await generation(name)).toBe(1);
    });

    it("is refused when its deployment key is missing, naming how to set one without printing any", async () => {
      const spec = workerServiceSpec(resolveServiceOptions({ ...base(), name: "keyless" }), "");
      spec.template!.containers![0]!.env = [];
      const name = await deployByHand("keyless", spec);
      const err = await ensureService(client, { ...base(), name: "keyless" }).catch((e: unknown) => e);
      expect(isKind(err, "precondition")).toBe(true);
      expect((err as Error).message).toContain(`${DEPLOYMENT_KEY_ENV} in the container's environment): missing`);
      expect((err as Error).message).toContain(`--update-env-vars=${DEPLOYMENT_KEY_ENV}=${NEW_DEPLOYMENT_KEY_SHELL}`);
      expect(await generation(name)).toBe(1);
    });
  });
});

describe("reads of the Admin API", () => {
  it("are made again when a connection is reset in transit, and only then", async () => {
    let calls = 0;
    const flaky = async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
      return "read";
    };
    expect(await readAgainOnReset(flaky)).toBe("read");
    expect(calls).toBe(3);
    let refusals = 0;
    const refused = async () => {
      refusals++;
      throw Object.assign(new Error("denied"), { code: 7 });
    };
    await expect(readAgainOnReset(refused)).rejects.toThrow("denied");
    expect(refusals).toBe(1);
  });
});
