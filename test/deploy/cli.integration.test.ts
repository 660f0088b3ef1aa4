/**
 * The real `bigmachine` entry point as a child process, with only the environment lines that
 * `bigmachine emulators` prints: Application Default Credentials come from the emulators' metadata
 * server, the Admin API client goes to the emulator, and deploy (granting the driver), status and down
 * work end to end. The commands' other paths are tested in-process (commands.test.ts).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulators, type Emulators } from "../../src/emulators/index.ts";
import { INVOKER_ROLE } from "../../src/systems/cloudrun/service-deployer.ts";
import { MANAGED_LABEL } from "../../src/systems/cloudrun/service-spec.ts";
import { CONTAINER_FIXTURE } from "./helpers.ts";

const BIN = fileURLToPath(new URL("../../bin/bigmachine.js", import.meta.url));
const IMAGE = "cli-test-worker:1";

describe("the bigmachine command against the emulators", () => {
  let emulators: Emulators;

  beforeAll(async () => {
    emulators = await startEmulators({
      images: { [IMAGE]: [process.execPath, CONTAINER_FIXTURE] },
      admin: { operationDelayMs: 10 },
      serving: { idleTimeoutMs: 60_000, shutdownGraceMs: 1_000, startupTimeoutMs: 10_000 },
    });
  });

  afterAll(async () => {
    await emulators?.close();
  });

  /** Runs `bigmachine ARGS` with this process's environment less credentials, plus the emulators' lines. */
  function bigmachine(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...emulators.env() };
    // The test setup's: no credentials file, and no metadata server. ADC must find the emulators' instead.
    delete env.GOOGLE_APPLICATION_CREDENTIALS;
    delete env.METADATA_SERVER_DETECTION;
    for (const name of Object.keys(env)) if (name.startsWith("BIGMACHINE_")) delete env[name];
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("deploys, reports, grants and tears down the service", async () => {
    const deployed = await bigmachine(["deploy", "--image", IMAGE, "--max-instances", "3"]);
    expect(deployed.stderr).toBe("");
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toContain(`created service bigmachine (project ${emulators.projectId}, region ${emulators.region}), managed by bigmachine`);
    // The driver's identity is the account the emulators' metadata server speaks for.
    expect(deployed.stdout).toContain(`granted ${INVOKER_ROLE} to serviceAccount:${emulators.serviceAccountEmail}`);

    const client = new v2.ServicesClient(emulators.runClientOptions());
    try {
      const name = `projects/${emulators.projectId}/locations/${emulators.region}/services/bigmachine`;
      const [service] = await client.getService({ name });
      expect(service.labels?.[MANAGED_LABEL.key]).toBe(MANAGED_LABEL.value);
      expect(Number(service.template?.scaling?.maxInstanceCount)).toBe(3);

      const status = await bigmachine(["status", "--image", IMAGE, "--max-instances", "3"]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`url        ${service.uri}\n`);
      expect(status.stdout).toContain("settings   as the Cloud Run System wants them");

      const [policy] = await client.getIamPolicy({ resource: name });
      expect(policy.bindings?.find((b) => b.role === INVOKER_ROLE)?.members).toEqual([`serviceAccount:${emulators.serviceAccountEmail}`]);

      const down = await bigmachine(["down", "--yes"]);
      expect(down.code).toBe(0);
      expect(down.stdout).toContain("deleted service bigmachine");
      await expect(client.getService({ name })).rejects.toThrow();
    } finally {
      await client.close();
    }
    // Each run starts a node process that loads the Google clients: generous on a busy machine.
  }, 120_000);
});
