/**
 * The container contract on real instances: the env vars and arguments an instance runs with (and
 * nothing of the host's), its own file system, its memory limit, listening on all interfaces, and its
 * output as Cloud Logging entries.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeployError } from "../contracts.ts";
import { CONTAINER, logLines, PROJECT_ID, ready, REGION, releaseAll, runService, startHarness, waitFor, whoami, type Harness } from "./fixtures/plane-harness.ts";
import { instanceAddress, PROBE_ADDRESS } from "./listen-probe.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("the container contract", () => {
  it("runs instances with PORT, K_SERVICE, K_REVISION, K_CONFIGURATION, GCE_METADATA_HOST and the container's env", async () => {
    h = await startHarness();
    const { uri, revision } = await h.plane.deploy(runService("contract", { env: { FIXTURE_GREETING: "hello" } }));
    const [instance] = ready(h, "contract");
    const env = (await (await fetch(`${uri}/env`)).json()) as Record<string, string>;
    expect(env).toMatchObject({
      PORT: String(instance.port),
      K_SERVICE: "contract",
      K_REVISION: revision,
      K_CONFIGURATION: "contract",
      GCE_METADATA_HOST: h.metadataServers.get(instance.id)?.hostPort,
      FIXTURE_GREETING: "hello",
    });
    expect(revision).toMatch(/^contract-/);
    // The instance's metadata server names the instance as the plane does.
    expect((await whoami(uri)).instanceId).toBe(instance.id);
  });

  it("passes the container's args after the image's command", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("args", { args: ["--flag", "two words"] }));
    expect(await (await fetch(`${uri}/argv`)).json()).toEqual(["--flag", "two words"]);
  });

  it("turns output lines into cloud_run_revision entries labelled with the instance id", async () => {
    h = await startHarness();
    const { uri, revision } = await h.plane.deploy(runService("logs"));
    const who = await whoami(uri, "/log");
    const resource = {
      type: "cloud_run_revision",
      labels: { project_id: PROJECT_ID, service_name: "logs", revision_name: revision, configuration_name: "logs", location: REGION },
    };
    const labels = { instanceId: who.instanceId };
    const logName = (stream: string) => `projects/${PROJECT_ID}/logs/run.googleapis.com%2F${stream}`;
    await waitFor("the three lines", () => h!.logs.some((e) => e.jsonPayload?.message === "structured line"));
    expect(h.logs).toContainEqual(expect.objectContaining({ logName: logName("stdout"), resource, labels, textPayload: `plain line from ${who.pid}` }));
    expect(h.logs).toContainEqual(expect.objectContaining({ logName: logName("stderr"), resource, labels, textPayload: `error line from ${who.pid}` }));
    expect(h.logs).toContainEqual(
      expect.objectContaining({ logName: logName("stdout"), resource, labels, severity: "WARNING", jsonPayload: { message: "structured line", pid: who.pid } }),
    );
  });
});

describe("the container's environment", () => {
  const HOST_ONLY = "BIGMACHINE_TEST_HOST_ONLY";
  afterEach(() => {
    delete process.env[HOST_ONLY];
  });

  it("is the image's ENV under the container's env and the contract's variables, with nothing else of the host's", async () => {
    process.env[HOST_ONLY] = "must not leak";
    h = await startHarness();
    h.plane.mapImage("with-env", { command: [process.execPath, CONTAINER], env: { IMAGE_ONLY: "image", SHARED: "image", K_SERVICE: "image" } });
    const { uri, revision } = await h.plane.deploy(runService("envs", { image: "with-env", env: { SHARED: "container", FIXTURE_GREETING: "hi" } }));
    const [instance] = ready(h, "envs");
    const env = (await (await fetch(`${uri}/env-all`)).json()) as Record<string, string>;
    const passed = Object.fromEntries(["PATH", "NODE_OPTIONS"].filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n]!]));
    expect(env).toEqual({
      ...passed,
      GOOGLE_CLOUD_PROJECT: PROJECT_ID,
      IMAGE_ONLY: "image",
      SHARED: "container",
      FIXTURE_GREETING: "hi",
      K_SERVICE: "envs",
      K_REVISION: revision,
      K_CONFIGURATION: "envs",
      PORT: String(instance.port),
      GCE_METADATA_HOST: h.metadataServers.get(instance.id)!.hostPort,
      HOME: join(instance.fileSystem!, "home"),
      TMPDIR: join(instance.fileSystem!, "tmp"),
    });
    // The test suite's guard against reaching Google rides on NODE_OPTIONS, which instances get.
    expect(env.NODE_OPTIONS).toContain("google-guard");
  });

  it("passes exactly the host variables named in hostEnv", async () => {
    process.env[HOST_ONLY] = "passed on purpose";
    h = await startHarness({ hostEnv: [HOST_ONLY, "BIGMACHINE_TEST_UNSET"] });
    const { uri } = await h.plane.deploy(runService("host-env"));
    const env = (await (await fetch(`${uri}/env-all`)).json()) as Record<string, string>;
    expect(env[HOST_ONLY]).toBe("passed on purpose");
    expect(env).not.toHaveProperty("PATH");
    expect(env).not.toHaveProperty("NODE_OPTIONS");
    expect(env).not.toHaveProperty("BIGMACHINE_TEST_UNSET");
  });
});

describe("the instance's file system", () => {
  it("gives each instance its own HOME and TMPDIR, removed once it stops", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("files", { concurrency: 1, maxInstances: 2 }));
    const held = whoami(uri, "/hold");
    await waitFor("the first instance busy", () => ready(h!, "files")[0]?.inFlight === 1);
    // The second request needs a second instance.
    const writer = await fetch(`${uri}/write?bytes=1000`, { method: "POST" });
    const wrote = (await writer.json()) as { instanceId: string };
    const instances = ready(h, "files");
    expect(instances).toHaveLength(2);
    const [first, second] = instances.map((i) => i.fileSystem!);
    expect(first).not.toBe(second);
    const writerFs = instances.find((i) => i.id === wrote.instanceId)!.fileSystem!;
    const otherFs = writerFs === first ? second : first;
    expect(readdirSync(join(writerFs, "tmp"))).toHaveLength(1);
    expect(readdirSync(join(otherFs, "tmp"))).toEqual([]);
    await releaseAll(h, "files");
    await held;
    await h.close();
    h = undefined;
    expect(existsSync(first)).toBe(false);
    expect(existsSync(second)).toBe(false);
  });
});

describe("the memory limit", () => {
  it("kills an instance whose files and processes pass its limit when limits are enforced, with Google's message", async () => {
    h = await startHarness({ enforceMemoryLimits: true });
    const { uri } = await h.plane.deploy(runService("hungry", { memory: "128Mi" }));
    const [instance] = ready(h, "hungry");
    // The fixture's own memory is well under 128 MiB; with 100 MiB of files the instance is over.
    await fetch(`${uri}/write?bytes=${100 * 1024 * 1024}`, { method: "POST" });
    await waitFor("the instance to be killed", () => h!.plane.stoppedInstances("hungry").find((i) => i.id === instance.id));
    const stopped = h.plane.stoppedInstances("hungry").find((i) => i.id === instance.id)!;
    expect(stopped.exit).toMatchObject({ planned: false, reason: expect.stringMatching(/^Memory limit of 128 MiB exceeded with \d+ MiB used\./) });
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        logName: `projects/${PROJECT_ID}/logs/run.googleapis.com%2Fvarlog%2Fsystem`,
        severity: "ERROR",
        labels: { instanceId: instance.id },
        textPayload: expect.stringMatching(/^Memory limit of 128 MiB exceeded with \d+ MiB used\. Consider increasing the memory limit/),
      }),
    );
    expect(logLines(h).filter((line) => line.startsWith("Instance stopped unexpectedly"))).toEqual([]);
  });

  it("leaves the same instance alone when limits are not enforced (the default)", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("roomy", { memory: "128Mi" }));
    const [instance] = ready(h, "roomy");
    await fetch(`${uri}/write?bytes=${100 * 1024 * 1024}`, { method: "POST" });
    // The same instance answers a request after the write.
    expect((await whoami(uri)).instanceId).toBe(instance.id);
    expect(h.plane.stoppedInstances("roomy")).toEqual([]);
  });
});

describe("listening on loopback only", () => {
  it("is caught: the revision fails and says the container must listen on all interfaces", async () => {
    // Linux routes all of 127/8 to loopback, so the probe tells a loopback-only listener apart there.
    if (process.platform === "linux") expect(await instanceAddress()).toBe(PROBE_ADDRESS);
    h = await startHarness({ startupTimeoutMs: 1_500, shutdownGraceMs: 300 });
    const failed = await h.plane.deploy(runService("loopback", { env: { FIXTURE_HOST: "127.0.0.1" } })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(DeployError);
    expect(failed).toMatchObject({ reason: "HEALTH_CHECK_CONTAINER_ERROR" });
    if ((await instanceAddress()) === PROBE_ADDRESS) {
      expect((failed as Error).message).toMatch(/listens on 127\.0\.0\.1:\d+ \(loopback\) only.*listen on 0\.0\.0\.0/);
    }
  });

  it("is named even when the container gives up and exits before the startup timeout", async () => {
    h = await startHarness({ startupTimeoutMs: 60_000, shutdownGraceMs: 300 });
    // The fixture exits on its own a moment after listening on loopback (as a worker that idles out would).
    const failed = await h.plane.deploy(runService("quitter", { env: { FIXTURE_HOST: "127.0.0.1", FIXTURE_EXIT_AFTER_MS: "500" } })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toMatchObject({ reason: "HEALTH_CHECK_CONTAINER_ERROR" });
    if ((await instanceAddress()) === PROBE_ADDRESS) {
      expect((failed as Error).message).toMatch(/stopped \(exited with code 0\) having listened on 127\.0\.0\.1:\d+ \(loopback\) only/);
    }
  });
});
