/**
 * The emulators end to end, driven only through the official client libraries: the Run client deploys
 * a service whose image maps to a fixture server, google-auth-library fetches an ID token from the
 * metadata emulator, the request reaches an instance, and the Logging client finds its output.
 */
import { fileURLToPath } from "node:url";
import { Logging } from "@google-cloud/logging";
import { v2 } from "@google-cloud/run";
import { GoogleAuth } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { descendantsRunning, isAlive, waitFor } from "./identity/fixtures/processes.ts";
import { startEmulators, type Emulators } from "./index.ts";

const FIXTURE = fileURLToPath(new URL("./identity/fixtures/instance-server.mjs", import.meta.url));
const IMAGE = "images.example/test/fixtures/instance-server:1";
const RUNTIME_ACCOUNT = "worker@it-project.iam.gserviceaccount.com";

/** Points google-auth-library's ADC at the metadata emulator for one test; undone by the returned function. */
function useMetadataEmulator(emulators: Emulators): () => void {
  const overrides: Record<string, string | undefined> = {
    GCE_METADATA_HOST: emulators.metadataEndpoint.hostPort,
    // The test setup points ADC at a missing key file and turns metadata detection off.
    GOOGLE_APPLICATION_CREDENTIALS: undefined,
    METADATA_SERVER_DETECTION: "ping-only",
  };
  const saved = Object.fromEntries(Object.keys(overrides).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(overrides);
  return () => apply(saved);
}

interface FixtureReply {
  pid: number;
  instanceId: string;
  serviceAccount: string;
  service: string;
}

describe("emulators, through the official clients", () => {
  let emulators: Emulators;
  let services: InstanceType<typeof v2.ServicesClient>;
  let restoreEnv: (() => void) | undefined;
  const pids: number[] = [];

  beforeAll(async () => {
    emulators = await startEmulators({
      projectId: "it-project",
      region: "europe-west1",
      images: { [IMAGE]: [process.execPath, FIXTURE] },
      admin: { operationDelayMs: 20 },
      logging: { ingestionDelayMs: 50, ingestionJitterMs: 50 },
      serving: { idleTimeoutMs: 60_000, shutdownGraceMs: 2_000, startupTimeoutMs: 10_000 },
    });
    services = new v2.ServicesClient(emulators.runClientOptions());
  });
  afterEach(() => {
    restoreEnv?.();
    restoreEnv = undefined;
  });
  afterAll(async () => {
    await services?.close();
    await emulators?.close();
  });

  const parent = () => `projects/${emulators.projectId}/locations/${emulators.region}`;

  async function deploy(serviceId: string, serviceAccount?: string) {
    const [operation] = await services.createService({
      parent: parent(),
      serviceId,
      service: { template: { containers: [{ image: IMAGE }], maxInstanceRequestConcurrency: 1, serviceAccount } },
    });
    const [service] = await operation.promise();
    const [policy] = await services.setIamPolicy({
      resource: service.name!,
      policy: { bindings: [{ role: "roles/run.invoker", members: [`serviceAccount:${emulators.serviceAccountEmail}`] }] },
    });
    expect(policy.bindings?.[0]?.role).toBe("roles/run.invoker");
    return service;
  }

  async function callWithIdToken(uri: string): Promise<FixtureReply> {
    restoreEnv = useMetadataEmulator(emulators);
    const client = await new GoogleAuth().getIdTokenClient(uri);
    const headers = await client.getRequestHeaders();
    const res = await fetch(uri, { headers });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as FixtureReply;
    pids.push(reply.pid);
    return reply;
  }

  it("deploys, serves an authenticated request, logs it, and deletes", async () => {
    const service = await deploy("hello", RUNTIME_ACCOUNT);
    expect(service.uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const uri = service.uri!;

    // As on Cloud Run: no credentials is 403 (no permission), a token that does not verify is 401.
    const unauthenticated = await fetch(uri);
    expect(unauthenticated.status).toBe(403);
    const badToken = await fetch(uri, { headers: { Authorization: "Bearer not-a-token" } });
    expect(badToken.status).toBe(401);
    // A good token for another audience is 401; a good token of someone who is no invoker, 403.
    const otherAudience = emulators.issuer.signIdToken({ aud: "http://127.0.0.1:1", email: emulators.serviceAccountEmail });
    expect((await fetch(uri, { headers: { Authorization: `Bearer ${otherAudience}` } })).status).toBe(401);
    const stranger = emulators.issuer.signIdToken({ aud: uri, email: "stranger@elsewhere.iam.gserviceaccount.com" });
    expect((await fetch(uri, { headers: { Authorization: `Bearer ${stranger}` } })).status).toBe(403);

    const reply = await callWithIdToken(uri);
    // The instance's own metadata server names the instance and the service's runtime account.
    expect(reply).toMatchObject({ service: "hello", instanceId: expect.stringMatching(/^[0-9a-f]+$/), serviceAccount: RUNTIME_ACCOUNT });
    expect(isAlive(reply.pid)).toBe(true);

    const logging = new Logging(emulators.loggingClientOptions());
    const entries = await waitFor("the instance's request log line", async () => {
      const [found] = await logging.getEntries({
        filter: `labels.instanceId="${reply.instanceId}" AND jsonPayload.message:"fixture served GET /"`,
      });
      return found.length > 0 ? found : undefined;
    });
    const [entry] = entries;
    expect(entry.metadata.resource).toMatchObject({
      type: "cloud_run_revision",
      labels: { service_name: "hello", location: emulators.region },
    });

    const [deletion] = await services.deleteService({ name: service.name! });
    await deletion.promise();
    await waitFor("the instance to stop after delete", () => !isAlive(reply.pid));
    await expect(services.getService({ name: service.name! })).rejects.toMatchObject({ code: expect.anything() });
  });

  it("close() stops every instance and leaves no child process", async () => {
    const service = await deploy("to-close");
    const reply = await callWithIdToken(service.uri!);
    expect(reply.serviceAccount).toBe(`${emulators.projectNumber}-compute@developer.gserviceaccount.com`);
    expect(descendantsRunning(FIXTURE).length).toBeGreaterThan(0);

    await emulators.close();
    await emulators.close(); // idempotent
    expect(isAlive(reply.pid)).toBe(false);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(descendantsRunning(FIXTURE)).toEqual([]);
    await expect(fetch(emulators.runEndpoint.url)).rejects.toThrow();
    await expect(fetch(service.uri!)).rejects.toThrow();
  });
});
