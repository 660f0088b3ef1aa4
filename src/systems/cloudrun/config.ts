/**
 * @module
 * The Cloud Run System's configuration: each setting from the options, then a `BIGMACHINE_CLOUDRUN_*`
 * environment variable, then a default. Everything is checked here, before anything is created, and
 * each missing or malformed value is one error that names the option and the variable that set it.
 * The deploy tooling reads the same settings, so `bigmachine deploy` deploys the service a driver
 * would use.
 */
import { errorOf } from "../../core.ts";
import { DEFAULT_CPU, DEFAULT_MEMORY, defaultWorkerImage, resolveServiceOptions, type WorkerServiceOptions } from "./service-spec.ts";

/** Environment variables of the Cloud Run System, by setting. */
export const CLOUDRUN_ENV = {
  /** The project id; then `GOOGLE_CLOUD_PROJECT`, then `GCLOUD_PROJECT`. */
  project: "BIGMACHINE_CLOUDRUN_PROJECT",
  /** The region; then `CLOUD_RUN_REGION` (which the emulators print), then `us-central1`. */
  region: "BIGMACHINE_CLOUDRUN_REGION",
  /** The service id; default `bigmachine`. */
  service: "BIGMACHINE_CLOUDRUN_SERVICE",
  /** The worker image; default the one `cloudbuild.yaml` pushes (`defaultWorkerImage`). */
  image: "BIGMACHINE_CLOUDRUN_IMAGE",
  /** CPU per instance, e.g. `2`; default 1. */
  cpu: "BIGMACHINE_CLOUDRUN_CPU",
  /** Memory per instance, e.g. `2Gi`; default 512Mi. */
  memory: "BIGMACHINE_CLOUDRUN_MEMORY",
  /** The service's request timeout in seconds (`3600` or `3600s`); default 3600. */
  timeout: "BIGMACHINE_CLOUDRUN_TIMEOUT",
  /** The least instance ceiling the service gets; default 100, Cloud Run's own (raised to the machines a session asks for). */
  maxInstances: "BIGMACHINE_CLOUDRUN_MAX_INSTANCES",
  /** The account instances run as; default the project's compute account. */
  serviceAccount: "BIGMACHINE_CLOUDRUN_SERVICE_ACCOUNT",
  /** Extra worker environment, `NAME=VALUE,NAME=VALUE` (as gcloud's `--set-env-vars`). */
  env: "BIGMACHINE_CLOUDRUN_ENV",
  /** A service account the driver impersonates for every Google call (also read from google-auth's own variable). */
  impersonate: "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
} as const;

/** The default service id. */
export const DEFAULT_SERVICE = "bigmachine";
/** The default region when neither the options nor the environment name one. */
export const DEFAULT_REGION = "us-central1";
/**
 * The System's default request timeout: Cloud Run's longest. Tunnels are rotated every 13.5 minutes
 * whatever it is (see `keepalive.ts`), so a long timeout costs nothing and spares needless rotations
 * when the front end keeps connections longer.
 */
export const DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS = 3_600_000;
/**
 * The instance ceiling a service gets unless told otherwise: Cloud Run's own default. A driver cannot
 * see the machines other drivers hold on a shared service, so a ceiling of just its own machines would
 * starve them; a session wanting more raises it, and nothing lowers it.
 */
export const DEFAULT_MAX_INSTANCES = 100;

/** The service settings of the Cloud Run System; every field is optional. */
export interface CloudRunServiceSettings {
  project?: string;
  region?: string;
  /** The service id. */
  service?: string;
  image?: string;
  cpu?: string;
  memory?: string;
  requestTimeoutMs?: number;
  /** The least instance ceiling the service gets (it is raised to the machines wanted, never lowered). */
  maxInstances?: number;
  serviceAccount?: string;
  /** Extra environment of the worker (machines inherit it). */
  env?: Record<string, string>;
  /** A service account to impersonate for every Google call (the driver needs `roles/iam.serviceAccountTokenCreator` on it). */
  impersonateServiceAccount?: string;
}

/** The settings with every default applied and checked. */
export interface ResolvedCloudRunSettings {
  project: string;
  region: string;
  service: string;
  image: string;
  cpu: string;
  memory: string;
  requestTimeoutMs: number;
  maxInstances: number;
  serviceAccount: string | undefined;
  env: Record<string, string>;
  impersonateServiceAccount: string | undefined;
  /** The full resource name, `projects/P/locations/R/services/S`. */
  serviceName: string;
}

type Env = Record<string, string | undefined>;

/** Reads the settings from `options`, then `env`, then the defaults. Throws kind `invalid` (fatal). */
export function resolveCloudRunSettings(options: CloudRunServiceSettings = {}, env: Env = process.env): ResolvedCloudRunSettings {
  const text = (option: string | undefined, ...names: string[]): string | undefined => {
    if (option !== undefined) return option.trim() || undefined;
    for (const name of names) {
      const value = env[name]?.trim();
      if (value) return value;
    }
    return undefined;
  };
  const project = text(options.project, CLOUDRUN_ENV.project, "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT");
  if (!project) {
    invalid(`no Google Cloud project: pass \`project\`, or set ${CLOUDRUN_ENV.project} or GOOGLE_CLOUD_PROJECT (to try the Cloud Run System without Google, run it against the emulators: \`npx bigmachine emulators\`)`);
  }
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) invalid(`project ${JSON.stringify(project)} is not a Google Cloud project id`);
  const region = text(options.region, CLOUDRUN_ENV.region, "CLOUD_RUN_REGION") ?? DEFAULT_REGION;
  if (!/^[a-z]+-[a-z]+\d+$/.test(region)) invalid(`region ${JSON.stringify(region)} is not a Cloud Run region (e.g. us-central1)`);
  const service = text(options.service, CLOUDRUN_ENV.service) ?? DEFAULT_SERVICE;
  const image = text(options.image, CLOUDRUN_ENV.image) ?? defaultWorkerImage(project, region);
  const cpu = text(options.cpu, CLOUDRUN_ENV.cpu) ?? DEFAULT_CPU;
  if (!/^(\d+(\.\d+)?|\d+m)$/.test(cpu)) invalid(`cpu ${JSON.stringify(cpu)} (option cpu or ${CLOUDRUN_ENV.cpu}) must be a number of CPUs such as 1, 2, 4 or 1000m`);
  const memory = text(options.memory, CLOUDRUN_ENV.memory) ?? DEFAULT_MEMORY;
  if (!/^\d+(Mi|Gi)$/.test(memory)) invalid(`memory ${JSON.stringify(memory)} (option memory or ${CLOUDRUN_ENV.memory}) must look like 512Mi or 4Gi`);
  const requestTimeoutMs = options.requestTimeoutMs ?? seconds(env[CLOUDRUN_ENV.timeout]) ?? DEFAULT_SYSTEM_REQUEST_TIMEOUT_MS;
  const maxInstances = options.maxInstances ?? count(CLOUDRUN_ENV.maxInstances, env[CLOUDRUN_ENV.maxInstances]) ?? DEFAULT_MAX_INSTANCES;
  if (!Number.isInteger(maxInstances) || maxInstances < 1) invalid(`maxInstances must be a positive integer, got ${maxInstances}`);
  const serviceAccount = text(options.serviceAccount, CLOUDRUN_ENV.serviceAccount);
  if (serviceAccount !== undefined && !/^[^@\s]+@[^@\s]+\.[a-z]+$/.test(serviceAccount)) {
    invalid(`service account ${JSON.stringify(serviceAccount)} is not an account email`);
  }
  const impersonateServiceAccount = text(options.impersonateServiceAccount, CLOUDRUN_ENV.impersonate);
  const settings: ResolvedCloudRunSettings = {
    project,
    region,
    service,
    image,
    cpu,
    memory,
    requestTimeoutMs,
    maxInstances,
    serviceAccount,
    env: options.env ?? envList(env[CLOUDRUN_ENV.env]),
    impersonateServiceAccount,
    serviceName: `projects/${project}/locations/${region}/services/${service}`,
  };
  // The service deployer's own checks (service id, timeout limits, reserved env names), before anything is created.
  resolveServiceOptions(serviceOptionsOf(settings, 1));
  return settings;
}

/** What `ensureService` is asked for when `machines` more machines are wanted. */
export function serviceOptionsOf(settings: ResolvedCloudRunSettings, machines: number): WorkerServiceOptions {
  return {
    name: settings.service,
    image: settings.image,
    region: settings.region,
    project: settings.project,
    machines: Math.max(machines, settings.maxInstances),
    requestTimeoutMs: settings.requestTimeoutMs,
    cpu: settings.cpu,
    memory: settings.memory,
    env: settings.env,
    serviceAccount: settings.serviceAccount,
  };
}

/** The number of processors an instance of `cpu` has, rounded down, at least 1. */
export function processorsOf(cpu: string): number {
  const value = cpu.endsWith("m") ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
  return Math.max(1, Math.floor(value));
}

function seconds(raw: string | undefined): number | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const match = /^(\d+)s?$/.exec(value);
  if (!match) invalid(`${CLOUDRUN_ENV.timeout} must be a whole number of seconds (e.g. 3600 or 3600s), got ${JSON.stringify(value)}`);
  return Number(match[1]) * 1000;
}

function count(name: string, raw: string | undefined): number | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) invalid(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function envList(raw: string | undefined): Record<string, string> {
  const value = raw?.trim();
  if (!value) return {};
  const out: Record<string, string> = {};
  for (const pair of value.split(",")) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) invalid(`${CLOUDRUN_ENV.env} wants NAME=VALUE pairs separated by commas, got ${JSON.stringify(pair)}`);
    out[name] = pair.slice(eq + 1);
  }
  return out;
}

function invalid(message: string): never {
  throw errorOf("invalid", `cloudrun: ${message}`, { severity: "fatal" });
}
