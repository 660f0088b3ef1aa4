/**
 * The container contract on real instances: the env vars and arguments an instance runs with, and its
 * output as Cloud Logging entries.
 */
import { afterEach, describe, expect, it } from "vitest";
import { PROJECT_ID, ready, REGION, runService, startHarness, waitFor, whoami, type Harness } from "./fixtures/plane-harness.ts";

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
