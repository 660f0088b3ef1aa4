/**
 * The managed settings table: the gcloud arguments it makes of the worker's Service, the differences
 * it finds (values in the units that matter), and the refusal of an unmanaged service with one
 * pasteable gcloud command.
 */
import { describe, expect, it } from "vitest";
import { isFatal, isKind } from "../../core.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "./attach-protocol.ts";
import { gcloudUpdateCommand, NEW_DEPLOYMENT_KEY_SHELL, shellWord, unmanagedServiceError } from "./service-errors.ts";
import { cpuMillis, gcloudArguments, gcloudDict, MANAGED_SETTINGS, memoryBytes, settingDifferences } from "./service-settings.ts";
import { deploymentKeyProblem, isManaged, MANAGED_LABEL, resolveServiceOptions, serviceDifferences, workerServiceSpec, type RunService } from "./service-spec.ts";

const NAME = "projects/my-project/locations/europe-west1/services/workers";
const options = (extra: object = {}) =>
  resolveServiceOptions({ name: "workers", image: "repo/worker:1", region: "europe-west1", project: "my-project", machines: 4, requestTimeoutMs: 3_600_000, ...extra });

describe("gcloudArguments", () => {
  it("gives every managed setting of the worker's Service its gcloud flag", () => {
    const key = newDeploymentKey();
    expect(gcloudArguments(workerServiceSpec(options(), key))).toEqual([
      "--image=repo/worker:1",
      "--concurrency=1",
      "--session-affinity",
      "--timeout=3600",
      "--no-cpu-throttling",
      "--cpu-boost",
      "--execution-environment=gen2",
      "--min-instances=0",
      "--max-instances=4",
      "--cpu=1",
      "--memory=512Mi",
      `--update-env-vars=${DEPLOYMENT_KEY_ENV}=${key}`,
    ]);
  });

  it("adds the service account, extra env and labels (once for service and revision) when asked for", () => {
    const spec = workerServiceSpec(options({ serviceAccount: "run@my-project.iam.gserviceaccount.com", env: { MODE: "a,b" }, labels: { team: "data" } }), "k");
    const args = gcloudArguments(spec);
    expect(args).toContain("--service-account=run@my-project.iam.gserviceaccount.com");
    expect(args).toContain(`--update-env-vars=^@^MODE=a,b@${DEPLOYMENT_KEY_ENV}=k`);
    expect(args.filter((a) => a.startsWith("--update-labels"))).toEqual(["--update-labels=team=data"]);
  });

  it("names a flag for each setting, the ones the project's issue lists among them", () => {
    const flags = Object.values(MANAGED_SETTINGS).map((s) => s.flag);
    for (const flag of ["--concurrency", "--[no-]session-affinity", "--timeout", "--[no-]cpu-throttling", "--[no-]cpu-boost", "--execution-environment", "--max-instances", "--min-instances", "--cpu", "--memory", "--image", "--service-account", "--update-env-vars", "--update-labels"]) {
      expect(flags).toContain(flag);
    }
  });
});

describe("settingDifferences", () => {
  it("finds nothing missing in the wanted Service itself, nor in equal quantities written otherwise", () => {
    const wanted = workerServiceSpec(options(), "k");
    expect(settingDifferences(wanted, wanted)).toEqual([]);
    const same = workerServiceSpec(options(), "k", 10);
    same.template!.containers![0]!.resources!.limits = { cpu: "1000m", memory: "0.5Gi" };
    expect(settingDifferences(same, wanted)).toEqual([]);
  });

  it("reads Cloud Run's defaults for unset fields and says what each difference is and how to fix it", () => {
    const bare: RunService = { template: { containers: [{ image: "repo/worker:0", env: [{ name: "MODE", value: "secret" }] }], scaling: { maxInstanceCount: 2 } } };
    const differences = settingDifferences(bare, workerServiceSpec(options({ env: { MODE: "x" } }), "k"));
    expect(Object.fromEntries(differences.map((d) => [d.setting, [d.actual, d.wanted, d.argument]]))).toEqual({
      image: ["repo/worker:0", "repo/worker:1", "--image=repo/worker:1"],
      maxInstanceRequestConcurrency: ["unset", "1", "--concurrency=1"],
      sessionAffinity: ["off", "on", "--session-affinity"],
      timeout: ["300", "3600", "--timeout=3600"],
      cpuIdle: ["yes (throttled)", "no (always allocated)", "--no-cpu-throttling"],
      startupCpuBoost: ["off", "on", "--cpu-boost"],
      executionEnvironment: ["unset", "gen2", "--execution-environment=gen2"],
      maxInstanceCount: ["2", "4", "--max-instances=4"],
      cpu: ["unset", "1", "--cpu=1"],
      memory: ["unset", "512Mi", "--memory=512Mi"],
      // An environment value may be a secret: it is never shown.
      "env.MODE": ["another value", "x", "--update-env-vars=MODE=x"],
    });
    // The names serviceDifferences reports are the same, plus the missing deployment key.
    expect(serviceDifferences(bare, options({ env: { MODE: "x" } })).sort()).toEqual([...differences.map((d) => d.setting), `env.${DEPLOYMENT_KEY_ENV}`].sort());
  });

  it("takes a higher instance ceiling as enough", () => {
    const existing = workerServiceSpec(options(), "k", 50);
    expect(settingDifferences(existing, workerServiceSpec(options(), "k"))).toEqual([]);
  });
});

describe("quantities, dictionaries and shell words", () => {
  it("reads CPU and memory quantities in their units", () => {
    expect([cpuMillis("1"), cpuMillis("1000m"), cpuMillis("0.5"), cpuMillis("2"), cpuMillis("x")]).toEqual([1000, 1000, 500, 2000, undefined]);
    expect([memoryBytes("512Mi"), memoryBytes("0.5Gi"), memoryBytes("1G"), memoryBytes("2Gi"), memoryBytes("lots")]).toEqual([2 ** 29, 2 ** 29, 1e9, 2 ** 31, undefined]);
  });

  it("switches gcloud's dictionary delimiter when a value holds a comma", () => {
    expect(gcloudDict({ A: "1", B: "2" })).toBe("A=1,B=2");
    expect(gcloudDict({ A: "1,2", B: "x@y" })).toBe("^:^A=1,2:B=x@y");
  });

  it("quotes shell words only when they need it", () => {
    expect(shellWord("--timeout=3600")).toBe("--timeout=3600");
    expect(shellWord("--update-env-vars=A=two words")).toBe("'--update-env-vars=A=two words'");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });
});

describe("the refusal of an unmanaged service", () => {
  const bare: RunService = { template: { containers: [{ image: "repo/worker:1" }], maxInstanceRequestConcurrency: 80, timeout: { seconds: 300 } } };
  const differences = settingDifferences(bare, workerServiceSpec(options(), "k"));

  it("is one fatal precondition error naming each setting, its value, the wanted value and its flag", () => {
    const err = unmanagedServiceError({ name: NAME, differences, keyProblem: deploymentKeyProblem(bare) });
    expect(isKind(err, "precondition")).toBe(true);
    expect(isFatal(err)).toBe(true);
    expect(err.message).toContain(`no ${MANAGED_LABEL.key}=${MANAGED_LABEL.value} label`);
    expect(err.message).toContain("requests per instance: 80, wanted 1 (--concurrency)");
    expect(err.message).toContain("request timeout in seconds: 300, wanted 3600 (--timeout)");
    expect(err.message).toContain(`deployment key (${DEPLOYMENT_KEY_ENV} in the container's environment): missing`);
    expect(err.message).toContain(gcloudUpdateCommand({ name: NAME, differences, keyProblem: "missing" }));
  });

  it("carries one gcloud command that fixes everything, making the key where it is pasted", () => {
    const command = gcloudUpdateCommand({ name: NAME, differences, keyProblem: "missing" });
    expect(command).toBe(
      "gcloud run services update workers --region europe-west1 --project my-project --concurrency=1 --session-affinity --timeout=3600 " +
        "--no-cpu-throttling --cpu-boost --execution-environment=gen2 --cpu=1 --memory=512Mi " +
        `--update-env-vars=${DEPLOYMENT_KEY_ENV}=${NEW_DEPLOYMENT_KEY_SHELL}`,
    );
    expect(gcloudUpdateCommand({ name: NAME, differences: differences.slice(0, 1) })).toBe(
      "gcloud run services update workers --region europe-west1 --project my-project --concurrency=1",
    );
  });
});

describe("managed services and deployment keys", () => {
  it("knows bigmachine's services by their label, and refuses options that would set it", () => {
    expect(isManaged({ labels: { [MANAGED_LABEL.key]: MANAGED_LABEL.value } })).toBe(true);
    expect(isManaged({ labels: { [MANAGED_LABEL.key]: "someone-else" } })).toBe(false);
    expect(isManaged({})).toBe(false);
    expect(() => options({ labels: { [MANAGED_LABEL.key]: MANAGED_LABEL.value } })).toThrow(expect.objectContaining({ kind: "invalid" }));
  });

  it("takes a key of 32 characters or more, and names what is wrong with any other", () => {
    expect(deploymentKeyProblem(workerServiceSpec(options(), newDeploymentKey()))).toBeUndefined();
    expect(deploymentKeyProblem(workerServiceSpec(options(), "x".repeat(32)))).toBeUndefined();
    expect(deploymentKeyProblem(workerServiceSpec(options(), "short"))).toMatch(/^too short \(5 characters/);
    expect(deploymentKeyProblem({ template: { containers: [{ image: "i" }] } })).toBe("missing");
  });
});
