/**
 * The gcloud command an unmanaged service is refused with, pasted into a real shell with a stub
 * gcloud first on PATH: gcloud gets each fixing flag as one argument, quoting survives, and the
 * deployment key is made where the command runs (never printed beforehand).
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEPLOYMENT_KEY_ENV } from "../../src/systems/cloudrun/attach-protocol.ts";
import { gcloudUpdateCommand } from "../../src/systems/cloudrun/service-errors.ts";
import { settingDifferences } from "../../src/systems/cloudrun/service-settings.ts";
import { resolveServiceOptions, workerServiceSpec, type RunService } from "../../src/systems/cloudrun/service-spec.ts";
import { stubGcloud, type StubGcloud } from "./helpers.ts";

describe("the gcloud command that fixes an unmanaged service", () => {
  let gcloud: StubGcloud;

  beforeAll(async () => {
    gcloud = await stubGcloud();
  });

  afterAll(async () => {
    await gcloud?.remove();
  });

  it("runs in a shell as the arguments it names, with a fresh key made on the spot", async () => {
    const options = resolveServiceOptions({ name: "hand-made", image: "repo/worker:1", region: "asia-east1", project: "my-project", machines: 8, env: { MODE: "two words, and 'quotes'" } });
    const existing: RunService = { template: { containers: [{ image: "repo/worker:1" }], maxInstanceRequestConcurrency: 80, scaling: { maxInstanceCount: 4 } } };
    const differences = settingDifferences(existing, workerServiceSpec(options, ""));
    const command = gcloudUpdateCommand({ name: "projects/my-project/locations/asia-east1/services/hand-made", differences, keyProblem: "missing" });

    const result = spawnSync("bash", ["--noprofile", "--norc", "-c", command], { env: await gcloud.env(), encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const [call] = await gcloud.calls();
    const key = call!.argv.at(-1)!.replace(`--update-env-vars=${DEPLOYMENT_KEY_ENV}=`, "");
    expect(key).toMatch(/^[\w-]{43}$/);
    expect(call!.argv).toEqual([
      "run", "services", "update", "hand-made", "--region", "asia-east1", "--project", "my-project",
      ...differences.map((d) => d.argument),
      `--update-env-vars=${DEPLOYMENT_KEY_ENV}=${key}`,
    ]);
    expect(call!.argv).toContain("--max-instances=8");
    expect(call!.argv).toContain("--update-env-vars=^@^MODE=two words, and 'quotes'");
  });
});
