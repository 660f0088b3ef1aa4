/**
 * The Cloud Run System's settings: options win over `BIGMACHINE_CLOUDRUN_*` variables, which win over
 * the defaults, and each missing or malformed value is one error naming it, before anything is made.
 */
import { describe, expect, it } from "vitest";
import { BigmachineError } from "../../core.ts";
import { DEFAULT_MAX_INSTANCES, DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS, processorsOf, resolveCloudRunSettings, serviceOptionsOf } from "./config.ts";

function invalid(fn: () => unknown): BigmachineError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BigmachineError);
    expect((err as BigmachineError).kind).toBe("invalid");
    return err as BigmachineError;
  }
  throw new Error("expected an invalid-settings error");
}

describe("Cloud Run System settings", () => {
  it("default everything but the project", () => {
    const s = resolveCloudRunSettings({}, { GOOGLE_CLOUD_PROJECT: "my-project" });
    expect(s).toMatchObject({
      project: "my-project",
      region: "us-central1",
      service: "bigmachine",
      image: "us-central1-docker.pkg.dev/my-project/bigmachine/worker:latest",
      cpu: "1",
      memory: "512Mi",
      requestTimeoutMs: DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS,
      maxInstances: DEFAULT_MAX_INSTANCES,
      env: {},
      serviceName: "projects/my-project/locations/us-central1/services/bigmachine",
    });
  });

  it("read BIGMACHINE_CLOUDRUN_* variables, and options over them", () => {
    const env = {
      GOOGLE_CLOUD_PROJECT: "ignored-project",
      BIGMACHINE_CLOUDRUN_PROJECT: "env-project",
      CLOUD_RUN_REGION: "europe-west1",
      BIGMACHINE_CLOUDRUN_SERVICE: "batch",
      BIGMACHINE_CLOUDRUN_CPU: "4",
      BIGMACHINE_CLOUDRUN_MEMORY: "8Gi",
      BIGMACHINE_CLOUDRUN_TIMEOUT: "900s",
      BIGMACHINE_CLOUDRUN_MAX_INSTANCES: "300",
      BIGMACHINE_CLOUDRUN_SERVICE_ACCOUNT: "runner@env-project.iam.gserviceaccount.com",
      BIGMACHINE_CLOUDRUN_ENV: "A=1,B=two=2",
    };
    const s = resolveCloudRunSettings({}, env);
    expect(s).toMatchObject({ project: "env-project", region: "europe-west1", service: "batch", cpu: "4", memory: "8Gi", requestTimeoutMs: 900_000, maxInstances: 300, env: { A: "1", B: "two=2" } });
    expect(resolveCloudRunSettings({ project: "opt-project", cpu: "2", region: "asia-east1" }, env)).toMatchObject({ project: "opt-project", cpu: "2", region: "asia-east1" });
    expect(processorsOf("4")).toBe(4);
    expect(processorsOf("1000m")).toBe(1);
    expect(serviceOptionsOf(s, 500).machines).toBe(500);
    expect(serviceOptionsOf(s, 5).machines).toBe(300);
  });

  it("refuse each missing or malformed value with an error naming it", () => {
    expect(invalid(() => resolveCloudRunSettings({}, {})).message).toMatch(/no Google Cloud project.*GOOGLE_CLOUD_PROJECT.*emulators/);
    expect(invalid(() => resolveCloudRunSettings({ project: "Bad_Project" }, {})).message).toMatch(/not a Google Cloud project id/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project", region: "mars" }, {})).message).toMatch(/region "mars"/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project" }, { BIGMACHINE_CLOUDRUN_CPU: "lots" })).message).toMatch(/BIGMACHINE_CLOUDRUN_CPU/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project" }, { BIGMACHINE_CLOUDRUN_MEMORY: "1TB" })).message).toMatch(/BIGMACHINE_CLOUDRUN_MEMORY/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project" }, { BIGMACHINE_CLOUDRUN_TIMEOUT: "5m" })).message).toMatch(/BIGMACHINE_CLOUDRUN_TIMEOUT/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project", requestTimeoutMs: 30_000 }, {})).message).toMatch(/request timeout/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project" }, { BIGMACHINE_CLOUDRUN_MAX_INSTANCES: "0" })).message).toMatch(/BIGMACHINE_CLOUDRUN_MAX_INSTANCES/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project", serviceAccount: "nobody" }, {})).message).toMatch(/service account "nobody"/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project" }, { BIGMACHINE_CLOUDRUN_ENV: "=x" })).message).toMatch(/NAME=VALUE/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project", service: "Not A Name" }, {})).message).toMatch(/service name/);
    expect(invalid(() => resolveCloudRunSettings({ project: "my-project", env: { PORT: "1" } }, {})).message).toMatch(/PORT/);
  });
});
