/**
 * The Admin API emulator over plain HTTP: Google's JSON error shapes, enums as numbers and names,
 * unknown fields and parameters, malformed JSON, operations (read, list, wait, delete), etags, and
 * that the server keeps serving after bad input and stops cleanly.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { serveApp, type ServedApp } from "../serve.ts";
import { FakeServing } from "./fake-serving.ts";
import { RunAdminEmulator } from "./index.ts";

const PARENT = "projects/rest-test/locations/us-central1";
const NUMERIC = "$alt=json%3Benum-encoding=int";

interface Reply {
  status: number;
  body: any;
}

describe("Admin API emulator over REST", () => {
  let serving: FakeServing;
  let admin: RunAdminEmulator;
  let served: ServedApp;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    serving = new FakeServing();
    admin = new RunAdminEmulator({
      projectId: "rest-test",
      projectNumber: "555",
      serving,
      callerOf: (authorization) => (authorization === "Bearer alice-token" ? "alice@example.com" : undefined),
    });
    served = await serveApp(admin.app);
  });
  afterEach(() => {
    release?.();
    release = undefined;
  });
  afterAll(async () => {
    await admin?.close();
    await served?.close();
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(`${served.url}/v2/${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  /** Polls an operation until it is done, a bounded number of times. */
  async function settle(operationName: string): Promise<any> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const { body } = await call("GET", operationName);
      if (body.done) return body;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`operation ${operationName} never finished`);
  }

  async function createService(id: string, service: unknown = { template: { containers: [{ image: "img:1" }] } }) {
    const reply = await call("POST", `${PARENT}/services?serviceId=${id}`, service);
    expect(reply.status).toBe(200);
    return settle(reply.body.name);
  }

  it("answers a missing service with Google's NOT_FOUND error body", async () => {
    const { status, body } = await call("GET", `${PARENT}/services/absent`);
    expect(status).toBe(404);
    expect(body).toEqual({ error: { code: 404, message: `Resource '${PARENT}/services/absent' was not found`, status: "NOT_FOUND" } });
  });

  it("rejects unknown fields and says where they are", async () => {
    const { status, body } = await call("POST", `${PARENT}/services?serviceId=unknown-field`, {
      template: { containers: [{ image: "img:1" }], bogus: 1 },
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 400,
      status: "INVALID_ARGUMENT",
      message: `Invalid JSON payload received. Unknown name "bogus" at 'service.template': Cannot find field.`,
      details: [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "service.template" }] }],
    });
  });

  it("rejects malformed JSON, values of the wrong type and unknown query parameters, and keeps serving", async () => {
    const malformed = await call("POST", `${PARENT}/services?serviceId=malformed`, "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.status).toBe("INVALID_ARGUMENT");
    expect(malformed.body.error.message).toMatch(/^Invalid JSON payload received\./);

    const wrongType = await call("POST", `${PARENT}/services?serviceId=wrong-type`, {
      template: { maxInstanceRequestConcurrency: "lots", containers: [{ image: "img:1" }] },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toBe(`Invalid value at 'service.template.max_instance_request_concurrency' (TYPE_INT32), "lots"`);

    const unknownParameter = await call("GET", `${PARENT}/services?colour=blue`);
    expect(unknownParameter.status).toBe(400);
    expect(unknownParameter.body.error.message).toContain(`Unknown name "colour": Cannot bind query parameter.`);

    const route = await call("GET", "projects/rest-test/nowhere");
    expect(route.status).toBe(404);
    expect(route.body.error.status).toBe("NOT_FOUND");

    const created = await createService("after-bad-input");
    expect(created.response.name).toBe(`${PARENT}/services/after-bad-input`);
  });

  it("takes enums as numbers or names, and answers with numbers only when asked", async () => {
    await createService("numeric-enums", { ingress: 2, template: { executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2", containers: [{ image: "img:1" }] } });
    const byName = await call("GET", `${PARENT}/services/numeric-enums`);
    expect(byName.body.ingress).toBe("INGRESS_TRAFFIC_INTERNAL_ONLY");
    expect(byName.body.template.executionEnvironment).toBe("EXECUTION_ENVIRONMENT_GEN2");
    expect(byName.body.terminalCondition.state).toBe("CONDITION_SUCCEEDED");

    const byNumber = await call("GET", `${PARENT}/services/numeric-enums?${NUMERIC}`);
    expect(byNumber.body.ingress).toBe(2);
    expect(byNumber.body.launchStage).toBe(4);
    expect(byNumber.body.template.executionEnvironment).toBe(2);
    expect(byNumber.body.terminalCondition.state).toBe(4);
    expect(byNumber.body.traffic).toEqual([{ type: 1, percent: 100 }]);

    const badName = await call("POST", `${PARENT}/services?serviceId=bad-enum`, { ingress: "INGRESS_TRAFFIC_SOMETIMES", template: { containers: [{ image: "i" }] } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toContain("google.cloud.run.v2.IngressTraffic");
    const badNumber = await call("POST", `${PARENT}/services?serviceId=bad-enum`, { ingress: 42, template: { containers: [{ image: "i" }] } });
    expect(badNumber.status).toBe(400);
  });

  it("accepts snake_case field names as proto3 JSON allows", async () => {
    const done = await createService("snake-case", { template: { max_instance_request_concurrency: 7, containers: [{ image: "img:1" }] } });
    expect(done.response.template.maxInstanceRequestConcurrency).toBe(7);
  });

  it("runs operations: not done while deploying, then done with the Service; listable, waitable, deletable", async () => {
    release = serving.hold();
    const started = await call("POST", `${PARENT}/services?serviceId=op-flow`, { template: { containers: [{ image: "img:1" }] } });
    expect(started.body.name).toMatch(new RegExp(`^${PARENT}/operations/[0-9a-f-]{36}$`));
    expect(started.body.done).toBeUndefined();
    expect(started.body.metadata).toMatchObject({ "@type": "type.googleapis.com/google.cloud.run.v2.Service", name: `${PARENT}/services/op-flow`, reconciling: true });

    const midway = await call("GET", `${PARENT}/services/op-flow`);
    expect(midway.body).toMatchObject({ reconciling: true, terminalCondition: { state: "CONDITION_RECONCILING" } });
    expect(midway.body.uri).toBeUndefined();
    const pending = await call("GET", `${PARENT}/operations?filter=done%3Dfalse`);
    expect(pending.body.operations.map((operation: any) => operation.name)).toContain(started.body.name);

    const shortWait = await call("POST", `${started.body.name}:wait`, { timeout: "0.05s" });
    expect(shortWait.body.done).toBeUndefined();
    const waiting = call("POST", `${started.body.name}:wait`, { timeout: "30s" });
    release();
    const waited = await waiting;
    expect(waited.body).toMatchObject({ done: true, response: { "@type": "type.googleapis.com/google.cloud.run.v2.Service", reconciling: false } });

    const finished = await call("GET", `${PARENT}/operations?filter=done%3Dtrue`);
    expect(finished.body.operations.map((operation: any) => operation.name)).toContain(started.body.name);
    expect((await call("DELETE", started.body.name)).body).toEqual({});
    expect((await call("GET", started.body.name)).status).toBe(404);
  });

  it("keeps serving-plane calls in order: a delete during a deploy removes after it", async () => {
    release = serving.hold();
    const name = `${PARENT}/services/short-lived`;
    const created = await call("POST", `${PARENT}/services?serviceId=short-lived`, { template: { containers: [{ image: "i" }] } });
    const deleted = await call("DELETE", name);
    expect(deleted.status).toBe(200);
    expect((await call("GET", name)).status).toBe(404);
    release();
    const [createDone, deleteDone] = await Promise.all([settle(created.body.name), settle(deleted.body.name)]);
    expect(createDone.error).toMatchObject({ code: 10 });
    expect(deleteDone.response).toMatchObject({ name, deleteTime: expect.any(String), reconciling: false });
    const order = serving.calls.filter((entry) => (entry.kind === "remove" ? entry.name : entry.service.name) === name).map((entry) => entry.kind);
    expect(order).toEqual(["deploy", "remove"]);
    expect(serving.deployed.has(name)).toBe(false);
  });

  it("rolls out back-to-back updates in order, the last one winning", async () => {
    await createService("busy");
    release = serving.hold();
    const name = `${PARENT}/services/busy`;
    const first = await call("PATCH", name, { template: { containers: [{ image: "img:2" }] } });
    const second = await call("PATCH", name, { template: { containers: [{ image: "img:3" }] } });
    release();
    await Promise.all([settle(first.body.name), settle(second.body.name)]);
    expect(serving.deploysOf(name).map((service) => service.template.containers[0].image)).toEqual(["img:1", "img:2", "img:3"]);
    const { body } = await call("GET", name);
    expect(body).toMatchObject({ generation: "3", observedGeneration: "3", reconciling: false, terminalCondition: { state: "CONDITION_SUCCEEDED" } });
    expect(body.latestReadyRevision).toBe(body.latestCreatedRevision);
    expect(body.latestCreatedRevision).toMatch(/busy-00003-[a-z0-9]{3}$/);
  });

  it("pages through operations", async () => {
    const parent = "projects/rest-test/locations/paged";
    for (const id of ["p-1", "p-2", "p-3"]) {
      await settle((await call("POST", `${parent}/services?serviceId=${id}`, { template: { containers: [{ image: "i" }] } })).body.name);
    }
    const first = await call("GET", `${parent}/operations?pageSize=2`);
    expect(first.body.operations).toHaveLength(2);
    const second = await call("GET", `${parent}/operations?pageSize=2&pageToken=${first.body.nextPageToken}`);
    expect(second.body.operations).toHaveLength(1);
    expect(second.body.nextPageToken).toBeUndefined();
    const foreign = await call("GET", `${PARENT}/operations?pageToken=${first.body.nextPageToken}`);
    expect(foreign.status).toBe(400);
  });

  it("answers validateOnly without creating anything", async () => {
    const { body } = await call("POST", `${PARENT}/services?serviceId=dry-run&validateOnly=true`, { template: { containers: [{ image: "img:1" }] } });
    expect(body.done).toBe(true);
    expect(body.response.template.maxInstanceRequestConcurrency).toBe(80);
    expect((await call("GET", `${PARENT}/services/dry-run`)).status).toBe(404);
    expect(serving.deploysOf(`${PARENT}/services/dry-run`)).toEqual([]);
  });

  it("checks etags on update and delete, and creates on update with allowMissing", async () => {
    const created = (await createService("etagged")).response;
    const stale = await call("PATCH", `${PARENT}/services/etagged`, { etag: "not-the-etag", template: { containers: [{ image: "img:2" }] } });
    expect(stale.status).toBe(409);
    expect(stale.body.error.status).toBe("ABORTED");
    const staleDelete = await call("DELETE", `${PARENT}/services/etagged?etag=not-the-etag`);
    expect(staleDelete.status).toBe(409);

    const updated = await call("PATCH", `${PARENT}/services/etagged`, { etag: created.etag, template: { containers: [{ image: "img:2" }] } });
    expect((await settle(updated.body.name)).response.generation).toBe("2");

    const missing = await call("PATCH", `${PARENT}/services/upserted`, { template: { containers: [{ image: "img:1" }] } });
    expect(missing.status).toBe(404);
    const upserted = await call("PATCH", `${PARENT}/services/upserted?allowMissing=true`, { template: { containers: [{ image: "img:1" }] } });
    expect((await settle(upserted.body.name)).response.generation).toBe("1");
  });

  it("applies an update mask to the named fields only", async () => {
    await createService("masked", { labels: { team: "a" }, description: "kept", template: { containers: [{ image: "img:1" }] } });
    const patched = await call("PATCH", `${PARENT}/services/masked?updateMask=labels`, { labels: { team: "b" } });
    const service = (await settle(patched.body.name)).response;
    expect(service).toMatchObject({ labels: { team: "b" }, description: "kept", template: { containers: [{ image: "img:1" }] } });
    const badMask = await call("PATCH", `${PARENT}/services/masked?updateMask=colour`, {});
    expect(badMask.status).toBe(400);
  });

  it("serves getIamPolicy by GET and POST, and validates policies", async () => {
    await createService("iam-rest");
    const name = `${PARENT}/services/iam-rest`;
    expect((await call("GET", `${name}:getIamPolicy`)).body).toEqual({ version: 1, etag: "ACAB" });
    expect((await call("POST", `${name}:getIamPolicy`, { options: { requestedPolicyVersion: 3 } })).body).toEqual({ version: 1, etag: "ACAB" });
    const badMember = await call("POST", `${name}:setIamPolicy`, { policy: { bindings: [{ role: "roles/run.invoker", members: ["nobody"] }] } });
    expect(badMember.status).toBe(400);
    const badRole = await call("POST", `${name}:setIamPolicy`, { policy: { bindings: [{ role: "invoker", members: ["allUsers"] }] } });
    expect(badRole.status).toBe(400);
    const set = await call("POST", `${name}:setIamPolicy`, {
      policy: { bindings: [{ role: "roles/run.invoker", members: ["user:b@example.com"] }, { role: "roles/run.invoker", members: ["user:a@example.com"] }] },
    });
    expect(set.body.bindings).toEqual([{ role: "roles/run.invoker", members: ["user:a@example.com", "user:b@example.com"] }]);
    const wildcard = await call("POST", `${name}:testIamPermissions`, { permissions: ["run.*"] });
    expect(wildcard.status).toBe(400);
    expect((await call("GET", `${PARENT}/services/absent:getIamPolicy`)).status).toBe(404);
  });

  it("records who created and last modified a service", async () => {
    const started = await call("POST", `${PARENT}/services?serviceId=authored`, { template: { containers: [{ image: "i" }] } }, { authorization: "Bearer alice-token" });
    const created = (await settle(started.body.name)).response;
    expect(created).toMatchObject({ creator: "alice@example.com", lastModifier: "alice@example.com" });
    const patched = await call("PATCH", `${PARENT}/services/authored`, { template: { containers: [{ image: "j" }] } });
    const updated = (await settle(patched.body.name)).response;
    expect(updated).toMatchObject({ creator: "alice@example.com", lastModifier: "555-compute@developer.gserviceaccount.com" });
  });

  it("rejects services breaking Cloud Run's rules, listing every violation", async () => {
    const { status, body } = await call("POST", `${PARENT}/services?serviceId=rule-breaker`, {
      labels: { "run.googleapis.com/x": "y" },
      template: {
        timeout: "3601s",
        maxInstanceRequestConcurrency: 1001,
        containers: [{ image: "img:1", env: [{ name: "PORT", value: "1" }], ports: [{ containerPort: 1 }, { containerPort: 2 }] }],
      },
    });
    expect(status).toBe(400);
    const fields = body.error.details[0].fieldViolations.map((violation: any) => violation.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        `service.labels["run.googleapis.com/x"]`,
        "service.template.timeout",
        "service.template.max_instance_request_concurrency",
        "service.template.containers[0].env",
        "service.template.containers[0].ports",
      ]),
    );
    expect(body.error.message).toBe(body.error.details[0].fieldViolations[0].description);
  });
});

describe("Admin API emulator shutdown", () => {
  let serving: FakeServing;
  let admin: RunAdminEmulator;
  let served: ServedApp;

  beforeEach(async () => {
    serving = new FakeServing();
    admin = new RunAdminEmulator({ projectId: "close-test", serving, operationDelayMs: 60_000 });
    served = await serveApp(admin.app);
  });
  afterEach(async () => {
    await admin.close();
    await served.close();
  });

  it("ends pending operation delays, removes every service, and refuses further requests", async () => {
    const res = await fetch(`${served.url}/v2/projects/p/locations/l/services?serviceId=svc`, {
      method: "POST",
      body: JSON.stringify({ template: { containers: [{ image: "img:1" }] } }),
    });
    const operation = (await res.json()) as { name: string; done?: boolean };
    expect(operation.done).toBeUndefined();

    await admin.close();
    await admin.close(); // idempotent
    expect(serving.calls.map((call) => call.kind)).toEqual(["deploy", "remove"]);
    expect(serving.deployed.size).toBe(0);
    const after = await fetch(`${served.url}/v2/${operation.name}`);
    expect(after.status).toBe(503);
    expect(((await after.json()) as { error: { status: string } }).error.status).toBe("UNAVAILABLE");
  });
});
