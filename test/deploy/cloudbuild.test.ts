/**
 * `cloudbuild.yaml` held to the code. The file is parsed, Cloud Build's substitutions are applied as
 * Cloud Build applies them, and its shell steps run with a stub gcloud first on PATH (gcloud never
 * really runs), so what is checked is what `gcloud run deploy` would be called with: exactly the
 * settings of `workerServiceSpec`, read through the same setting-to-flag table the refusal of an
 * unmanaged service uses, a deployment key made once and kept, and no managed-by label.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CLOUDBUILD_CONFIG, DEFAULT_DEPLOY_MAX_INSTANCES, DEFAULT_TAG, REPOSITORY_ROOT, SUBSTITUTIONS } from "../../deploy/cloudbuild-config.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "../../src/systems/cloudrun/attach-protocol.ts";
import { DEFAULT_REGION, DEFAULT_SERVICE, DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS, resolveCloudRunSettings, serviceOptionsOf, type CloudRunServiceSettings } from "../../src/systems/cloudrun/config.ts";
import { gcloudArguments } from "../../src/systems/cloudrun/service-settings.ts";
import { DEFAULT_CPU, DEFAULT_MEMORY, defaultWorkerImage, MANAGED_LABEL, resolveServiceOptions, WORKER_IMAGE_REPOSITORY, workerServiceSpec } from "../../src/systems/cloudrun/service-spec.ts";
import { stubGcloud, type StubGcloud } from "./helpers.ts";

interface Step {
  id: string;
  name: string;
  entrypoint?: string;
  args: string[];
  env?: string[];
}
interface BuildConfig {
  substitutions: Record<string, string>;
  steps: Step[];
  images: string[];
}

const configText = readFileSync(join(REPOSITORY_ROOT, CLOUDBUILD_CONFIG), "utf8");
const config = parse(configText) as BuildConfig;
const PROJECT = "my-project";
const BUILD_ID = "0f1e2d3c-build";

/** The substitution values of a build: Cloud Build's own, then the file's defaults, then `overrides`. */
function valuesOf(overrides: Record<string, string> = {}): Record<string, string> {
  return { PROJECT_ID: PROJECT, PROJECT_NUMBER: "123456789012", BUILD_ID, LOCATION: "global", ...config.substitutions, ...overrides };
}

/**
 * Applies substitutions as Cloud Build does: `$NAME` and `${NAME}` become their values, `$$` a literal
 * `$`; any other `$` (an unescaped shell variable) is refused, as Cloud Build refuses the build.
 */
function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$(\$|\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*)|[^]?)/g, (match, _all, braced?: string, bare?: string) => {
    if (match === "$$") return "$";
    const name = braced ?? bare;
    if (name === undefined) throw new Error(`cloudbuild.yaml: unescaped $ in ${JSON.stringify(text)} (Cloud Build wants $$)`);
    if (!(name in values)) throw new Error(`cloudbuild.yaml: $${name} is not a substitution`);
    return values[name]!;
  });
}

const step = (id: string): Step => {
  const found = config.steps.find((s) => s.id === id);
  if (!found) throw new Error(`cloudbuild.yaml has no step ${id}`);
  return found;
};

/** The settings a build with `overrides` means, as the Cloud Run System reads the same settings. */
function systemSpec(overrides: Record<string, string>, deploymentKey: string) {
  const values = valuesOf(overrides);
  const options: CloudRunServiceSettings = {
    project: PROJECT,
    region: values[SUBSTITUTIONS.region],
    service: values[SUBSTITUTIONS.service],
    cpu: values[SUBSTITUTIONS.cpu],
    memory: values[SUBSTITUTIONS.memory],
    requestTimeoutMs: Number(values[SUBSTITUTIONS.timeout]) * 1000,
    maxInstances: Number(values[SUBSTITUTIONS.maxInstances]),
  };
  // The image is left to the System's default: a default build must deploy the image drivers ask for.
  if (values[SUBSTITUTIONS.repository] !== WORKER_IMAGE_REPOSITORY || values[SUBSTITUTIONS.tag] !== DEFAULT_TAG) {
    options.image = `${values[SUBSTITUTIONS.region]}-docker.pkg.dev/${PROJECT}/${values[SUBSTITUTIONS.repository]}/worker:${values[SUBSTITUTIONS.tag]}`;
  }
  const settings = resolveCloudRunSettings(options, {});
  return workerServiceSpec(resolveServiceOptions(serviceOptionsOf(settings, settings.maxInstances)), deploymentKey);
}

describe("cloudbuild.yaml", () => {
  let gcloud: StubGcloud;
  let workspace: string;

  beforeAll(async () => {
    gcloud = await stubGcloud();
    // Cloud Build's /workspace holds the uploaded source; the steps need its deploy/ folder.
    workspace = await mkdtemp(join(tmpdir(), "bigmachine-workspace-"));
    await symlink(join(REPOSITORY_ROOT, "deploy"), join(workspace, "deploy"));
  });

  afterAll(async () => {
    await gcloud?.remove();
    if (workspace) await rm(workspace, { recursive: true, force: true });
  });

  /** Runs the deploy steps as Cloud Build would (bash, in the workspace); resolves to gcloud's calls. */
  async function deploySteps(overrides: Record<string, string>, servicesJson: unknown[]): Promise<{ argv: string[] }[]> {
    await rm(join(workspace, "deployment-key"), { force: true });
    await rm(join(workspace, "services.json"), { force: true });
    const env = await gcloud.env({ servicesJson: JSON.stringify(servicesJson) });
    const before = (await gcloud.calls()).length;
    for (const id of ["services", "deployment-key", "deploy"]) {
      const s = step(id);
      expect(s.entrypoint).toBe("bash");
      const result = spawnSync("bash", s.args.map((a) => substitute(a, valuesOf(overrides))), { cwd: workspace, env, encoding: "utf8" });
      if (result.status !== 0) throw new Error(`step ${id} failed (${result.status}): ${result.stderr}`);
    }
    return (await gcloud.calls()).slice(before);
  }

  it("declares the substitutions the tooling passes, defaulting to the Cloud Run System's settings", () => {
    expect(Object.keys(config.substitutions).sort()).toEqual(Object.values(SUBSTITUTIONS).sort());
    expect(config.substitutions).toEqual({
      [SUBSTITUTIONS.region]: DEFAULT_REGION,
      [SUBSTITUTIONS.repository]: WORKER_IMAGE_REPOSITORY,
      [SUBSTITUTIONS.tag]: DEFAULT_TAG,
      [SUBSTITUTIONS.deploy]: "true",
      [SUBSTITUTIONS.service]: DEFAULT_SERVICE,
      [SUBSTITUTIONS.maxInstances]: String(DEFAULT_DEPLOY_MAX_INSTANCES),
      [SUBSTITUTIONS.cpu]: DEFAULT_CPU,
      [SUBSTITUTIONS.memory]: DEFAULT_MEMORY,
      [SUBSTITUTIONS.timeout]: String(DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS / 1000),
    });
    // Each is used (Cloud Build refuses a given substitution the file never uses), and every $ is one.
    const used = JSON.stringify([config.steps, config.images]);
    for (const name of Object.keys(config.substitutions)) expect(used).toContain(`\${${name}}`);
    for (const text of [...config.steps.flatMap((s) => [s.name, ...s.args, ...(s.env ?? [])]), ...config.images]) substitute(text, valuesOf());
  });

  it("builds worker/Dockerfile with the repository root as context and pushes the image drivers ask for by default", () => {
    const values = valuesOf();
    const build = step("build").args.map((a) => substitute(a, values));
    const image = defaultWorkerImage(PROJECT, DEFAULT_REGION);
    const byBuild = image.replace(/:latest$/, `:${BUILD_ID}`);
    expect(build).toEqual(["build", "--file=worker/Dockerfile", `--tag=${image}`, `--tag=${byBuild}`, "."]);
    expect(step("push").args.map((a) => substitute(a, values))).toEqual(["push", "--all-tags", image.replace(/:latest$/, "")]);
    expect(config.images.map((i) => substitute(i, values))).toEqual([image, byBuild]);
    // The order matters: the image is pushed before it is deployed.
    expect(config.steps.map((s) => s.id)).toEqual(["build", "push", "services", "deployment-key", "deploy"]);
  });

  for (const [title, overrides] of [
    ["with its defaults", {}],
    ["with every setting substituted", { _REGION: "europe-west1", _SERVICE: "workers", _REPOSITORY: "images", _TAG: "v2", _MAX_INSTANCES: "20", _CPU: "2", _MEMORY: "2Gi", _TIMEOUT: "900" }],
  ] as const) {
    it(`deploys ${title} with exactly the settings of workerServiceSpec, read through the settings table, and no managed label`, async () => {
      const calls = await deploySteps(overrides, []);
      expect(calls.map((c) => c.argv.slice(0, 3))).toEqual([
        ["run", "services", "list"],
        ["run", "deploy", valuesOf(overrides)[SUBSTITUTIONS.service]!],
      ]);
      expect(calls[0]!.argv).toEqual(["run", "services", "list", `--region=${valuesOf(overrides)[SUBSTITUTIONS.region]}`, "--format=json"]);
      const flags = calls[1]!.argv.slice(3);
      const key = /^--update-env-vars=BIGMACHINE_DEPLOYMENT_KEY=(.*)$/.exec(flags.at(-1)!)?.[1];
      expect(key).toMatch(/^[\w-]{43}$/);
      // Besides the settings: where to deploy, and no public access for a new service.
      const extras = [`--region=${valuesOf(overrides)[SUBSTITUTIONS.region]}`, "--no-allow-unauthenticated"];
      expect(flags.filter((f) => !extras.includes(f)).sort()).toEqual(gcloudArguments(systemSpec(overrides, key!)).sort());
      expect(flags).toEqual(expect.arrayContaining(extras));
      expect(flags.join(" ")).not.toContain(MANAGED_LABEL.key);
    });
  }

  it("keeps the deployment key of an existing service, from either form gcloud may print", async () => {
    const key = newDeploymentKey();
    const knative = { metadata: { name: "bigmachine" }, spec: { template: { spec: { containers: [{ image: "i", env: [{ name: DEPLOYMENT_KEY_ENV, value: key }] }] } } } };
    const other = { metadata: { name: "bigmachine-2" }, spec: { template: { spec: { containers: [{ image: "i", env: [{ name: DEPLOYMENT_KEY_ENV, value: newDeploymentKey() }] }] } } } };
    let calls = await deploySteps({}, [other, knative]);
    expect(calls.at(-1)!.argv.at(-1)).toBe(`--update-env-vars=${DEPLOYMENT_KEY_ENV}=${key}`);
    expect(await readFile(join(workspace, "deployment-key"), "utf8")).toBe(key);

    const v2 = { name: `projects/${PROJECT}/locations/us-central1/services/bigmachine`, template: { containers: [{ image: "i", env: [{ name: DEPLOYMENT_KEY_ENV, value: key }] }] } };
    calls = await deploySteps({}, [v2]);
    expect(calls.at(-1)!.argv.at(-1)).toBe(`--update-env-vars=${DEPLOYMENT_KEY_ENV}=${key}`);
  });

  it("makes a new key for a service without one, or with one too short for the worker", async () => {
    const shortKey = { metadata: { name: "bigmachine" }, spec: { template: { spec: { containers: [{ image: "i", env: [{ name: DEPLOYMENT_KEY_ENV, value: "short" }] }] } } } };
    const keyless = { metadata: { name: "bigmachine" }, spec: { template: { spec: { containers: [{ image: "i" }] } } } };
    const keys = new Set<string>();
    for (const services of [[shortKey], [keyless], []]) {
      const key = /=([\w-]+)$/.exec((await deploySteps({}, services)).at(-1)!.argv.at(-1)!)?.[1];
      expect(key).toMatch(/^[\w-]{43}$/);
      keys.add(key!);
    }
    expect(keys.size).toBe(3);
  });

  it("only builds and pushes when _DEPLOY is not true", async () => {
    const calls = await deploySteps({ [SUBSTITUTIONS.deploy]: "false" }, []);
    expect(calls).toEqual([]);
    await expect(readFile(join(workspace, "deployment-key"), "utf8")).rejects.toThrow();
  });
});
