/**
 * The deploy commands in-process against the emulated Admin API (the official client, the emulators'
 * serving plane and IAM policies): deploy creates, deploying again changes nothing, a new setting
 * updates; status reports; grant adds a binding keeping the others; down deletes; and the errors
 * (no project, no service, an unmanaged service that does not serve, no one to grant) are typed and
 * clear.
 */
import { PassThrough } from "node:stream";
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDeployCommand } from "../../deploy/deploy.ts";
import { runDownCommand } from "../../deploy/down.ts";
import { runGrantCommand } from "../../deploy/grant.ts";
import { runStatusCommand } from "../../deploy/status.ts";
import { startEmulators, type Emulators } from "../../src/emulators/index.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "../../src/systems/cloudrun/attach-protocol.ts";
import { findService, INVOKER_ROLE, type ServicesClient } from "../../src/systems/cloudrun/service-deployer.ts";
import { MANAGED_LABEL, resolveServiceOptions, workerServiceSpec, type RunService } from "../../src/systems/cloudrun/service-spec.ts";
import { capturedIO, CONTAINER_FIXTURE, emulatorClients, type CapturedIOOptions } from "./helpers.ts";

const IMAGE = "deploy-tooling-test:1";

describe("bigmachine deploy, status, grant and down against the emulators", () => {
  let emulators: Emulators;
  let client: ServicesClient;

  beforeAll(async () => {
    emulators = await startEmulators({
      images: { [IMAGE]: [process.execPath, CONTAINER_FIXTURE] },
      admin: { operationDelayMs: 10 },
      serving: { idleTimeoutMs: 60_000, shutdownGraceMs: 1_000, startupTimeoutMs: 10_000, queueTimeoutMs: 5_000 },
    });
    client = new v2.ServicesClient(emulators.runClientOptions());
  });

  afterAll(async () => {
    await client?.close();
    await emulators?.close();
  });

  /** Surroundings as `bigmachine` has them in a shell set up by `bigmachine emulators`. */
  const io = (options: CapturedIOOptions = {}) =>
    capturedIO({ env: { GOOGLE_CLOUD_PROJECT: emulators.projectId, CLOUD_RUN_REGION: emulators.region }, clients: emulatorClients(emulators), ...options });
  const nameOf = (service: string) => `projects/${emulators.projectId}/locations/${emulators.region}/services/${service}`;
  const read = async (service: string) => (await client.getService({ name: nameOf(service) }))[0];
  const driver = () => `serviceAccount:${emulators.serviceAccountEmail}`;

  it("deploy creates the service, labelled managed, with the System's settings, and grants the driver", async () => {
    const run = io();
    expect(await runDeployCommand(["--image", IMAGE, "--service", "fresh"], run)).toBe(0);
    expect(run.err()).toBe("");
    const service = await read("fresh");
    expect(run.out()).toContain(`created service fresh (project ${emulators.projectId}, region ${emulators.region}), managed by bigmachine`);
    expect(run.out()).toContain(`url: ${service.uri}\n`);
    expect(run.out()).toMatch(/settings: --image=deploy-tooling-test:1 --concurrency=1 --session-affinity --timeout=3600 --no-cpu-throttling --cpu-boost --execution-environment=gen2 --min-instances=0 --max-instances=100 /);
    expect(run.out()).not.toContain(DEPLOYMENT_KEY_ENV);
    expect(run.out()).toContain(`granted ${INVOKER_ROLE} to ${driver()}\n`);
    expect(service.labels?.[MANAGED_LABEL.key]).toBe(MANAGED_LABEL.value);
    expect(Number(service.template?.scaling?.maxInstanceCount)).toBe(100);
    const [policy] = await client.getIamPolicy({ resource: nameOf("fresh") });
    expect(policy.bindings?.find((b) => b.role === INVOKER_ROLE)?.members).toEqual([driver()]);
    // The service serves: the serving plane started its container.
    const idToken = emulators.issuer.signIdToken({ aud: service.uri!, email: emulators.serviceAccountEmail });
    expect((await fetch(`${service.uri}/whoami`, { headers: { authorization: `Bearer ${idToken}` } })).status).toBe(200);
  });

  it("deploy again changes nothing; deploy with a new setting updates, never lowering the ceiling", async () => {
    const again = io();
    expect(await runDeployCommand(["--image", IMAGE, "--service", "fresh"], again)).toBe(0);
    expect(again.out()).toContain("left unchanged service fresh");
    expect(again.out()).toContain(`${driver()} already has ${INVOKER_ROLE}`);
    expect(Number((await read("fresh")).generation)).toBe(1);

    const bigger = io();
    expect(await runDeployCommand(["--image", IMAGE, "--service", "fresh", "--memory", "1Gi", "--max-instances", "5"], bigger)).toBe(0);
    expect(bigger.out()).toContain("updated service fresh");
    const service = await read("fresh");
    expect(Number(service.generation)).toBe(2);
    expect(service.template?.containers?.[0]?.resources?.limits?.memory).toBe("1Gi");
    expect(Number(service.template?.scaling?.maxInstanceCount)).toBe(100);
  });

  it("status reports the URL, revision, managedness, ceiling, key, differences and invokers", async () => {
    const run = io();
    expect(await runStatusCommand(["--image", IMAGE, "--service", "fresh", "--memory", "1Gi"], run)).toBe(0);
    const service = await read("fresh");
    const out = run.out();
    expect(out).toContain(`url        ${service.uri}\n`);
    expect(out).toContain("managed    yes");
    expect(out).toContain(`ready      yes, revision ${String(service.latestReadyRevision).split("/").at(-1)}\n`);
    expect(out).toContain("instances  at most 100, at least 0\n");
    expect(out).toContain("key        set\n");
    expect(out).toContain("settings   as the Cloud Run System wants them\n");
    expect(out).toContain(`invokers   ${driver()}\n`);

    // Settings the System would want otherwise are differences, each with its flag.
    const other = io();
    expect(await runStatusCommand(["--image", IMAGE, "--service", "fresh", "--timeout", "600"], other)).toBe(0);
    expect(other.out()).toContain("settings   2 differ from what the Cloud Run System wants:");
    expect(other.out()).toContain("  - request timeout in seconds: 3600, wanted 600 (--timeout=600)\n");
    expect(other.out()).toContain("  - memory per instance: 1Gi, wanted 512Mi (--memory=512Mi)\n");
  });

  it("status exits 1 for a service that is not ready, naming why, and for one that is missing", async () => {
    const [operation] = await client.createService({ parent: `projects/${emulators.projectId}/locations/${emulators.region}`, serviceId: "broken", service: { template: { containers: [{ image: "no-such-image:1" }] } } });
    await expect(operation.promise()).rejects.toThrow();
    const broken = io();
    expect(await runStatusCommand(["--image", IMAGE, "--service", "broken"], broken)).toBe(1);
    expect(broken.out()).toMatch(/ready {6}no: .*CONTAINER_MISSING/);
    expect(broken.out()).toContain("managed    no");

    const missing = io();
    expect(await runStatusCommand(["--service", "nowhere"], missing)).toBe(1);
    expect(missing.err()).toBe(`bigmachine status: no service nowhere in project ${emulators.projectId}, region ${emulators.region}: deploy it with bigmachine deploy (or cloudbuild.yaml)\n`);
  });

  it("grant adds the invoker binding and keeps the others", async () => {
    const viewer = "user:viewer@example.com";
    const first = "serviceAccount:first@example.iam.gserviceaccount.com";
    await client.setIamPolicy({ resource: nameOf("fresh"), policy: { bindings: [{ role: "roles/run.viewer", members: [viewer] }, { role: INVOKER_ROLE, members: [first] }] } });
    const run = io();
    expect(await runGrantCommand(["--service", "fresh", "--member", "user:someone@example.com"], run)).toBe(0);
    expect(run.out()).toBe(`granted ${INVOKER_ROLE} on fresh to user:someone@example.com\n`);
    // By default, the caller's own identity.
    const own = io();
    expect(await runGrantCommand(["--service", "fresh"], own)).toBe(0);
    expect(own.out()).toBe(`granted ${INVOKER_ROLE} on fresh to ${driver()}\n`);
    const [policy] = await client.getIamPolicy({ resource: nameOf("fresh") });
    const members = (role: string) => [...(policy.bindings?.find((b) => b.role === role)?.members ?? [])].sort();
    expect(members("roles/run.viewer")).toEqual([viewer]);
    expect(members(INVOKER_ROLE)).toEqual([first, "user:someone@example.com", driver()].sort());

    const nobody = io({ clients: emulatorClients(emulators, null) });
    expect(await runGrantCommand(["--service", "fresh"], nobody)).toBe(1);
    expect(nobody.err()).toContain("pass --member");
    const missing = io();
    expect(await runGrantCommand(["--service", "nowhere"], missing)).toBe(1);
    expect(missing.err()).toContain("no service nowhere");
  });

  it("down asks first: without --yes and a terminal it deletes nothing; a wrong name cancels; the right one deletes", async () => {
    expect(await runDeployCommand(["--image", IMAGE, "--service", "doomed", "--no-grant"], io())).toBe(0);
    const batch = io();
    expect(await runDownCommand(["--service", "doomed"], batch)).toBe(1);
    expect(batch.err()).toContain("not deleting service doomed without confirmation: pass --yes");
    expect(await findService(client, nameOf("doomed"))).toBeDefined();

    const typed = (line: string) => Object.assign(new PassThrough(), { isTTY: true }).end(`${line}\n`) as PassThrough & { isTTY: boolean };
    const wrong = io({ stdin: typed("dooomed") });
    expect(await runDownCommand(["--service", "doomed"], wrong)).toBe(1);
    expect(wrong.err()).toContain("Type its name to confirm: ");
    expect(wrong.err()).toContain(`not deleted: "dooomed" is not the service's name`);
    expect(await findService(client, nameOf("doomed"))).toBeDefined();

    const right = io({ stdin: typed("doomed") });
    expect(await runDownCommand(["--service", "doomed"], right)).toBe(0);
    expect(right.out()).toBe(`deleted service doomed (project ${emulators.projectId}, region ${emulators.region})\n`);
    expect(await findService(client, nameOf("doomed"))).toBeUndefined();
  });

  it("down --yes deletes the service and nothing else; a second down finds nothing to delete", async () => {
    const run = io();
    expect(await runDownCommand(["--service", "fresh", "--yes"], run)).toBe(0);
    expect(await findService(client, nameOf("fresh"))).toBeUndefined();
    expect(await findService(client, nameOf("broken"))).toBeDefined();
    const again = io();
    expect(await runDownCommand(["--service", "fresh", "--yes"], again)).toBe(1);
    expect(again.err()).toContain("no service fresh");
    expect(again.err()).toContain("nothing to delete");
  });

  describe("a service bigmachine did not deploy", () => {
    async function deployByHand(service: string, spec: RunService): Promise<void> {
      const [operation] = await client.createService({ parent: `projects/${emulators.projectId}/locations/${emulators.region}`, serviceId: service, service: spec });
      await operation.promise();
    }

    it("is used as it is by deploy when its settings serve, and granted", async () => {
      const settings = resolveServiceOptions({ name: "by-hand", image: IMAGE, project: emulators.projectId, region: emulators.region, machines: 100, requestTimeoutMs: 3_600_000 });
      await deployByHand("by-hand", workerServiceSpec(settings, newDeploymentKey()));
      const run = io();
      expect(await runDeployCommand(["--image", IMAGE, "--service", "by-hand"], run)).toBe(0);
      expect(run.out()).toContain("left unchanged service by-hand");
      expect(run.out()).toContain("not deployed by bigmachine; its settings serve, so it is used as it is");
      expect((await read("by-hand")).labels?.[MANAGED_LABEL.key]).toBeUndefined();
      const status = io();
      expect(await runStatusCommand(["--image", IMAGE, "--service", "by-hand", "--max-instances", "100"], status)).toBe(0);
      expect(status.out()).toContain("managed    no");
    });

    it("is refused by deploy, unchanged, with one error naming the gcloud command that fixes it", async () => {
      await deployByHand("handmade", { template: { containers: [{ image: IMAGE, env: [{ name: DEPLOYMENT_KEY_ENV, value: newDeploymentKey() }] }] } });
      const run = io();
      expect(await runDeployCommand(["--image", IMAGE, "--service", "handmade"], run)).toBe(1);
      expect(run.err()).toContain("bigmachine deploy: cloud run service handmade");
      expect(run.err()).toContain("was not deployed by bigmachine");
      expect(run.err()).toContain(`gcloud run services update handmade --region ${emulators.region} --project ${emulators.projectId} --concurrency=1 --session-affinity --timeout=3600 --no-cpu-throttling --cpu-boost --execution-environment=gen2\n`);
      expect(Number((await read("handmade")).generation)).toBe(1);
      const status = io();
      expect(await runStatusCommand(["--image", IMAGE, "--service", "handmade"], status)).toBe(0);
      expect(status.out()).toContain("a driver refuses the service until they are fixed with:");
    });
  });

  it("refuses clearly: no project, a bad flag, no one to grant to", async () => {
    const noProject = io({ env: {} });
    expect(await runDeployCommand(["--image", IMAGE], noProject)).toBe(1);
    expect(noProject.err()).toContain("no Google Cloud project");

    const badFlag = io();
    expect(await runDeployCommand(["--image", IMAGE, "--replicas", "3"], badFlag)).toBe(2);
    expect(badFlag.err()).toContain("--replicas");
    expect(badFlag.err()).toContain("usage: bigmachine deploy");
    const badTimeout = io();
    expect(await runDeployCommand(["--image", IMAGE, "--timeout", "an hour"], badTimeout)).toBe(2);
    expect(badTimeout.err()).toContain("--timeout wants a whole number of seconds");

    const anonymous = io({ clients: emulatorClients(emulators, null) });
    expect(await runDeployCommand(["--image", IMAGE, "--service", "anonymous"], anonymous)).toBe(1);
    expect(anonymous.err()).toContain("pass --member KIND:ID");
    expect(await findService(client, nameOf("anonymous"))).toBeUndefined();
  });
});
