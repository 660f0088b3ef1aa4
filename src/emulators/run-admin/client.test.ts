/**
 * The Admin API emulator driven only through the official `@google-cloud/run` client over its REST
 * transport: services are created, read, listed, updated and deleted through long-running operations,
 * IAM policies are read and replaced, and failures surface as the client's errors.
 */
import { protos, v2 } from "@google-cloud/run";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployError } from "../contracts.ts";
import { serveApp, type ServedApp } from "../serve.ts";
import { FakeServing } from "./fake-serving.ts";
import { RunAdminEmulator } from "./index.ts";
import { failure } from "../../../test/helpers.ts";

const PARENT = "projects/client-test/locations/europe-west1";

/** An auth client holding a made-up token, so the client never looks for credentials. */
function offlineAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: "local-token", expiry_date: Date.now() + 3_600_000 });
  return auth;
}

type Service = protos.google.cloud.run.v2.IService;

/**
 * An operation's result as plain JSON-like values: the client decodes it from protobuf, leaving enums
 * as numbers and int64 fields as Longs, unlike the results of plain calls.
 */
function plain(result: unknown): Service {
  const { Service } = protos.google.cloud.run.v2;
  return Service.toObject(result as InstanceType<typeof Service>, { enums: String, longs: String, defaults: false });
}

describe("Admin API emulator through the official client", () => {
  let serving: FakeServing;
  let admin: RunAdminEmulator;
  let served: ServedApp;
  let client: InstanceType<typeof v2.ServicesClient>;

  beforeAll(async () => {
    serving = new FakeServing();
    admin = new RunAdminEmulator({ projectId: "client-test", serving, operationDelayMs: 20 });
    served = await serveApp(admin.app);
    const options = { fallback: true, apiEndpoint: "127.0.0.1", port: served.port, protocol: "http", authClient: offlineAuth() };
    // The client's declared auth type comes from its own copy of google-auth-library; ours works at run time.
    client = new v2.ServicesClient(options as unknown as ConstructorParameters<typeof v2.ServicesClient>[0]);
  });
  afterAll(async () => {
    await client?.close();
    await admin?.close();
    await served?.close();
  });

  async function create(serviceId: string, service: Record<string, unknown> = {}) {
    const [operation] = await client.createService({
      parent: PARENT,
      serviceId,
      service: { template: { containers: [{ image: "worker:1" }] }, ...service },
    });
    const [created] = await operation.promise();
    return plain(created);
  }

  it("creates a service whose operation resolves once the serving plane has deployed it", async () => {
    const [operation] = await client.createService({
      parent: PARENT,
      serviceId: "created",
      service: { ingress: "INGRESS_TRAFFIC_INTERNAL_ONLY", template: { containers: [{ image: "worker:1" }] } },
    });
    expect(operation.done).toBe(false);
    const service = plain((await operation.promise())[0]);

    expect(service.name).toBe(`${PARENT}/services/created`);
    expect(service.uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(service.urls).toEqual([service.uri]);
    expect(service.generation).toBe("1");
    expect(service.observedGeneration).toBe("1");
    expect(service.reconciling).toBe(false);
    expect(service.ingress).toBe("INGRESS_TRAFFIC_INTERNAL_ONLY");
    expect(service.terminalCondition).toMatchObject({ type: "Ready", state: "CONDITION_SUCCEEDED" });
    expect(service.conditions?.map((condition) => [condition.type, condition.state])).toEqual([
      ["RoutesReady", "CONDITION_SUCCEEDED"],
      ["ConfigurationsReady", "CONDITION_SUCCEEDED"],
    ]);
    expect(service.latestReadyRevision).toBe(service.latestCreatedRevision);
    expect(service.latestCreatedRevision).toMatch(new RegExp(`^${PARENT}/services/created/revisions/created-00001-[a-z0-9]{3}$`));
    expect(service.template?.containers?.[0]?.resources?.limits).toEqual({ cpu: "1000m", memory: "512Mi" });
    expect(service.template?.maxInstanceRequestConcurrency).toBe(80);

    const deploys = serving.deploysOf(service.name!);
    expect(deploys).toHaveLength(1);
    expect(deploys[0]).toMatchObject({ generation: "1", ingress: "INGRESS_TRAFFIC_INTERNAL_ONLY", template: { timeout: "300s" } });
  });

  it("gets a service, and reports a missing one as not found", async () => {
    const created = await create("fetched");
    const [fetched] = await client.getService({ name: created.name });
    expect(fetched).toMatchObject({ name: created.name, uid: created.uid, etag: created.etag, uri: created.uri });

    const missing = await failure<{ code: number; message: string }>(client.getService({ name: `${PARENT}/services/no-such-service` }));
    expect([404, 5]).toContain(missing.code);
    expect(missing.message).toContain("no-such-service");
  });

  it("lists services a page at a time", async () => {
    const parent = "projects/client-test/locations/asia-east1";
    for (const id of ["list-a", "list-b", "list-c"]) {
      const [operation] = await client.createService({ parent, serviceId: id, service: { template: { containers: [{ image: "worker:1" }] } } });
      await operation.promise();
    }
    const [first, , firstReply] = await client.listServices({ parent, pageSize: 2 }, { autoPaginate: false });
    expect(first.map((service) => service.name)).toEqual([`${parent}/services/list-a`, `${parent}/services/list-b`]);
    expect(firstReply?.nextPageToken).toBeTruthy();
    const [second, , secondReply] = await client.listServices({ parent, pageSize: 2, pageToken: firstReply!.nextPageToken! }, { autoPaginate: false });
    expect(second.map((service) => service.name)).toEqual([`${parent}/services/list-c`]);
    expect(secondReply?.nextPageToken).toBeFalsy();

    const all: string[] = [];
    for await (const service of client.listServicesAsync({ parent, pageSize: 1 })) all.push(service.name!);
    expect(all).toHaveLength(3);
  });

  it("updates a service: the generation bumps and a new revision is deployed", async () => {
    const created = await create("updated");
    const [current] = await client.getService({ name: created.name });
    current.template!.containers![0]!.env = [{ name: "MODE", value: "fast" }];
    const [operation] = await client.updateService({ service: current });
    const updated = plain((await operation.promise())[0]);

    expect(updated.generation).toBe("2");
    expect(updated.observedGeneration).toBe("2");
    expect(updated.uid).toBe(created.uid);
    expect(updated.uri).toBe(created.uri);
    expect(updated.latestCreatedRevision).toMatch(/\/revisions\/updated-00002-[a-z0-9]{3}$/);
    expect(updated.latestReadyRevision).toBe(updated.latestCreatedRevision);
    expect(updated.etag).not.toBe(created.etag);
    const deploys = serving.deploysOf(created.name!);
    expect(deploys.map((service) => service.generation)).toEqual(["1", "2"]);
    expect(deploys[1]!.template.containers[0].env).toEqual([{ name: "MODE", value: "fast" }]);

    // A change outside the template bumps the generation but keeps the revision.
    const [labelled] = await client.updateService({ service: { ...updated, labels: { team: "infra" } } });
    const afterLabels = plain((await labelled.promise())[0]);
    expect(afterLabels.generation).toBe("3");
    expect(afterLabels.latestCreatedRevision).toBe(updated.latestCreatedRevision);
  });

  it("deletes a service: the serving plane removes it and it is gone", async () => {
    const created = await create("deleted");
    const [operation] = await client.deleteService({ name: created.name });
    const deleted = plain((await operation.promise())[0]);
    expect(deleted.name).toBe(created.name);
    expect(deleted.deleteTime).toBeTruthy();
    expect(serving.calls).toContainEqual({ kind: "remove", name: created.name });
    expect(serving.deployed.has(created.name!)).toBe(false);

    const gone = await failure<{ code: number; message: string }>(client.getService({ name: created.name }));
    expect([404, 5]).toContain(gone.code);
    const [live] = await client.listServices({ parent: PARENT }, { autoPaginate: false });
    expect(live.map((service) => service.name)).not.toContain(created.name);
    const [withDeleted] = await client.listServices({ parent: PARENT, showDeleted: true }, { autoPaginate: false });
    expect(withDeleted.map((service) => service.name)).toContain(created.name);
  });

  it("reads and replaces IAM policies, and refuses a stale etag", async () => {
    const created = await create("guarded");
    const [empty] = await client.getIamPolicy({ resource: created.name });
    expect(empty.bindings ?? []).toEqual([]);
    expect(admin.policyOf(created.name!)?.bindings).toBeUndefined();

    const member = "serviceAccount:caller@client-test.iam.gserviceaccount.com";
    const [policy] = await client.setIamPolicy({
      resource: created.name,
      policy: { bindings: [{ role: "roles/run.invoker", members: [member] }], etag: empty.etag },
    });
    expect(policy.bindings).toEqual([expect.objectContaining({ role: "roles/run.invoker", members: [member] })]);
    expect(Buffer.from(policy.etag as Uint8Array).equals(Buffer.from(empty.etag as Uint8Array))).toBe(false);
    // Stored at once, enforced only once propagated (two minutes by default).
    expect(admin.policyOf(created.name!)?.bindings).toBeUndefined();
    expect(admin.iamChangePending(created.name!)).toBe(true);
    admin.propagateIamNow();
    expect(admin.policyOf(created.name!)?.bindings).toEqual([{ role: "roles/run.invoker", members: [member] }]);
    const [reread] = await client.getIamPolicy({ resource: created.name });
    expect(reread.bindings).toEqual(policy.bindings);

    const stale = await failure<{ code: number; message: string }>(client.setIamPolicy({ resource: created.name, policy: { bindings: [], etag: empty.etag } }));
    expect([409, 10]).toContain(stale.code);

    const [tested] = await client.testIamPermissions({ resource: created.name, permissions: ["run.routes.invoke", "storage.buckets.get"] });
    expect(tested.permissions).toEqual(["run.routes.invoke"]);
  });

  it("rejects the operation with the serving plane's message when a revision fails", async () => {
    serving.failNextDeploy(new DeployError("the container exited with status 1", "HEALTH_CHECK_CONTAINER_ERROR"));
    const [operation] = await client.createService({ parent: PARENT, serviceId: "broken", service: { template: { containers: [{ image: "worker:1" }] } } });
    const failed = await failure<{ code: number; message: string }>(operation.promise());
    expect(failed.message).toContain("the container exited with status 1");
    expect(failed.code).toBe(9);

    const [service] = await client.getService({ name: `${PARENT}/services/broken` });
    expect(service.reconciling).toBe(false);
    expect(service.terminalCondition).toMatchObject({
      state: "CONDITION_FAILED",
      revisionReason: "HEALTH_CHECK_CONTAINER_ERROR",
    });
    expect(service.terminalCondition?.message).toContain("the container exited with status 1");
    expect(service.latestReadyRevision).toBeFalsy();
  });

  it("surfaces invalid requests as INVALID_ARGUMENT and duplicates as ALREADY_EXISTS", async () => {
    const badId = await failure<{ code: number; message: string }>(client.createService({ parent: PARENT, serviceId: "Bad_Id", service: { template: { containers: [{ image: "x" }] } } }));
    expect([400, 3]).toContain(badId.code);
    expect(badId.message).toContain("service_id");

    const noTemplate = await failure<{ code: number; message: string }>(client.createService({ parent: PARENT, serviceId: "no-template", service: {} }));
    expect([400, 3]).toContain(noTemplate.code);
    expect(noTemplate.message).toContain("service.template");

    const noImage = await failure<{ code: number; message: string }>(client.createService({ parent: PARENT, serviceId: "no-image", service: { template: { containers: [{}] } } }));
    expect(noImage.message).toContain("service.template.containers[0].image");

    await create("twice");
    const duplicate = await failure<{ code: number; message: string }>(client.createService({ parent: PARENT, serviceId: "twice", service: { template: { containers: [{ image: "x" }] } } }));
    expect([409, 6]).toContain(duplicate.code);
  });

  it("deploys a template naming a service account without permission checks unless they are on", async () => {
    const service = await create("runs-as", { template: { containers: [{ image: "worker:1" }], serviceAccount: "runner@client-test.iam.gserviceaccount.com" } });
    expect(service.template?.serviceAccount).toBe("runner@client-test.iam.gserviceaccount.com");
  });

  it("lets a caller resume an operation by name", async () => {
    const [operation] = await client.createService({ parent: PARENT, serviceId: "resumed", service: { template: { containers: [{ image: "worker:1" }] } } });
    const resumed = await client.checkCreateServiceProgress(operation.name!);
    const service = plain((await resumed.promise())[0]);
    expect(service.name).toBe(`${PARENT}/services/resumed`);
  });
});
