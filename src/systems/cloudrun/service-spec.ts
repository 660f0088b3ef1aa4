/**
 * @module
 * The Cloud Run service the worker runs in, as a pure description: {@link workerServiceSpec} builds the
 * Admin API v2 Service resource from a few options, and {@link serviceDifferences} says which of those
 * settings an existing service does not have, so a deploy touches a service only when it must.
 *
 * Every setting has a reason (docs/cloudrun.md, "Service settings"):
 * - concurrency 1: an instance holds one machine, and its attach tunnel is that instance's one request;
 * - `sessionAffinity: true`: a resume after a dropped tunnel should come back to the instance holding it;
 * - `timeout`: the request timeout bounds a tunnel's life, and the keepalive rule derives from it, so it
 *   is checked by `cloudRunTimings` and the same limits apply;
 * - `cpuIdle: false`: a machine computes between calls, with no request of its own in flight;
 * - `startupCpuBoost: true`: a cold instance starts its worker and program sooner;
 * - gen2: full Linux compatibility and network performance for the programs machines run;
 * - `maxInstanceCount` at least the machines wanted: every machine needs an instance of its own;
 * - `minInstanceCount: 0`: a service with no session costs nothing;
 * - the deployment key in the container env: the worker checks each attach's proof under it.
 */
import type { protos } from "@google-cloud/run";
import { errorOf } from "../../core.ts";
import { DEPLOYMENT_KEY_ENV } from "./attach-protocol.ts";
import { cloudRunTimings, DEFAULT_REQUEST_TIMEOUT_MS } from "./keepalive.ts";
import { settingDifferences } from "./service-settings.ts";

export { enumName, maxInstancesOf, requestTimeoutMsOf } from "./service-settings.ts";

/** The Admin API's Service resource. */
export type RunService = protos.google.cloud.run.v2.IService;

/** Cloud Run's default instance size, made explicit because sending `resources` drops the defaults. */
export const DEFAULT_CPU = "1";
/** Cloud Run's default instance memory. */
export const DEFAULT_MEMORY = "512Mi";

/** Environment names Cloud Run reserves or the worker owns; extra env may not set them. */
const RESERVED_ENV = new Set([DEPLOYMENT_KEY_ENV, "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"]);
const SERVICE_ID = /^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$/;

/** The Artifact Registry repository `cloudbuild.yaml` pushes the worker image to. */
export const WORKER_IMAGE_REPOSITORY = "bigmachine";
/** The worker image's name in that repository. */
export const WORKER_IMAGE_NAME = "worker";

/**
 * The worker image a project gets from `cloudbuild.yaml` with its default substitutions:
 * `REGION-docker.pkg.dev/PROJECT/bigmachine/worker:latest`. The Cloud Run System deploys it unless
 * told another image.
 */
export function defaultWorkerImage(project: string, region: string): string {
  return `${region}-docker.pkg.dev/${project}/${WORKER_IMAGE_REPOSITORY}/${WORKER_IMAGE_NAME}:latest`;
}

/** Whether `image` names the worker image (`…/bigmachine/worker`, any registry, tag or digest). */
export function isWorkerImage(image: string): boolean {
  return new RegExp(`(^|/)${WORKER_IMAGE_REPOSITORY}/${WORKER_IMAGE_NAME}(:[\\w][\\w.-]*|@sha256:[0-9a-f]{64})?$`).test(image);
}

/**
 * The label on services bigmachine itself created (the Cloud Run System, `bigmachine deploy`), which
 * it may therefore update. A service without it was deployed by someone else (by hand, by
 * `cloudbuild.yaml`): it is used as it is, never changed.
 */
export const MANAGED_LABEL = { key: "managed-by", value: "bigmachine" } as const;

/** What the worker's service should be. */
export interface WorkerServiceOptions {
  /** The service id: lower-case letters, digits and hyphens, a letter first, no trailing hyphen, < 50 chars. */
  name: string;
  /** The worker image reference. */
  image: string;
  /** The region (Cloud Run location), e.g. `us-central1`. */
  region: string;
  /** The project id. */
  project: string;
  /** How many machines the caller wants at once; the service allows at least that many instances. Default 1. */
  machines?: number;
  /** The service's request timeout, between 60 s and 3600 s. Default 300 s. */
  requestTimeoutMs?: number;
  /** CPU limit per instance, e.g. "2". Default "1". */
  cpu?: string;
  /** Memory limit per instance, e.g. "2Gi". Default "512Mi". */
  memory?: string;
  /** Extra environment for the worker; may not set the deployment key or Cloud Run's reserved names. */
  env?: Record<string, string>;
  /** The identity instances run as (an email); the project's default compute account when omitted. */
  serviceAccount?: string;
  /** Labels on the service and its revisions (revision labels are what reach log entries); not `managed-by`. */
  labels?: Record<string, string>;
}

/** The options with defaults applied and checked. */
export interface ResolvedServiceOptions extends Required<Omit<WorkerServiceOptions, "serviceAccount">> {
  serviceAccount?: string;
}

/** Applies defaults and checks the options; throws kind `invalid` (fatal) on bad ones. */
export function resolveServiceOptions(options: WorkerServiceOptions): ResolvedServiceOptions {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  cloudRunTimings(requestTimeoutMs);
  if (requestTimeoutMs % 1000 !== 0) invalid(`request timeout must be whole seconds, got ${requestTimeoutMs} ms`);
  if (!SERVICE_ID.test(options.name)) {
    invalid(`service name ${JSON.stringify(options.name)} must be lower-case letters, digits and hyphens, a letter first, no trailing hyphen, under 50 characters`);
  }
  if (!options.image) invalid("an image is required");
  if (!options.region) invalid("a region is required");
  if (!options.project) invalid("a project is required");
  const machines = options.machines ?? 1;
  if (!Number.isInteger(machines) || machines < 1) invalid(`machines must be a positive integer, got ${machines}`);
  const env = options.env ?? {};
  for (const name of Object.keys(env)) {
    if (RESERVED_ENV.has(name)) invalid(`env may not set ${name}: it is reserved`);
  }
  // Whether a service is bigmachine's to change is decided by its creation, never by the options.
  if (options.labels && MANAGED_LABEL.key in options.labels) invalid(`labels may not set ${MANAGED_LABEL.key}: bigmachine sets it on the services it creates`);
  return {
    name: options.name,
    image: options.image,
    region: options.region,
    project: options.project,
    machines,
    requestTimeoutMs,
    cpu: options.cpu ?? DEFAULT_CPU,
    memory: options.memory ?? DEFAULT_MEMORY,
    env,
    serviceAccount: options.serviceAccount,
    labels: options.labels ?? {},
  };
}

/**
 * The Service resource for the worker, holding `deploymentKey` in its container env. `maxInstances`
 * overrides the instance ceiling (an update keeps a higher one another driver may rely on); it is
 * never below `options.machines`. Pure: same input, same output.
 */
export function workerServiceSpec(options: ResolvedServiceOptions, deploymentKey: string, maxInstances = options.machines): RunService {
  const env = [
    ...Object.entries(options.env).map(([name, value]) => ({ name, value })),
    { name: DEPLOYMENT_KEY_ENV, value: deploymentKey },
  ];
  return {
    labels: { ...options.labels },
    template: {
      labels: { ...options.labels },
      scaling: { minInstanceCount: 0, maxInstanceCount: Math.max(maxInstances, options.machines) },
      timeout: { seconds: options.requestTimeoutMs / 1000 },
      maxInstanceRequestConcurrency: 1,
      sessionAffinity: true,
      executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2",
      ...(options.serviceAccount ? { serviceAccount: options.serviceAccount } : {}),
      containers: [
        {
          image: options.image,
          env,
          resources: { limits: { cpu: options.cpu, memory: options.memory }, cpuIdle: false, startupCpuBoost: true },
        },
      ],
    },
  };
}

/** The deployment key in a service's first container env, if there is one. */
export function deploymentKeyOf(service: RunService): string | undefined {
  const value = service.template?.containers?.[0]?.env?.find((e) => e.name === DEPLOYMENT_KEY_ENV)?.value;
  return value || undefined;
}

/**
 * The settings in which `existing` falls short of `options`, by name (empty when it needs no update):
 * `image`, `timeout`, `maxInstanceCount`, `env.NAME`, … (the keys of `MANAGED_SETTINGS`). A higher
 * instance ceiling than asked and settings the options leave open (labels or env not named, the
 * service account when none is asked for) are not differences; a missing or unusable deployment key is.
 */
export function serviceDifferences(existing: RunService, options: ResolvedServiceOptions): string[] {
  const differences = settingDifferences(existing, workerServiceSpec(options, "")).map((d) => d.setting);
  if (deploymentKeyProblem(existing)) differences.push(`env.${DEPLOYMENT_KEY_ENV}`);
  return differences;
}

/** Whether bigmachine created `service` (it carries {@link MANAGED_LABEL}) and may therefore change it. */
export function isManaged(service: RunService): boolean {
  return service.labels?.[MANAGED_LABEL.key] === MANAGED_LABEL.value;
}

/**
 * The fewest characters of a deployment key the worker accepts; it exits at start with a shorter one.
 * Keys bigmachine makes are 43 (32 random bytes, base64url).
 */
export const MIN_DEPLOYMENT_KEY_LENGTH = 32;

/** What is wrong with the deployment key of `service` ("missing", "too short"), or undefined when it will do. */
export function deploymentKeyProblem(service: RunService): string | undefined {
  const key = deploymentKeyOf(service)?.trim();
  if (!key) return "missing";
  if (key.length < MIN_DEPLOYMENT_KEY_LENGTH) return `too short (${key.length} characters, at least ${MIN_DEPLOYMENT_KEY_LENGTH})`;
  return undefined;
}

function invalid(message: string): never {
  throw errorOf("invalid", `cloud run service: ${message}`, { severity: "fatal" });
}
