/**
 * @module
 * The settings of the worker's Cloud Run service that bigmachine manages, in one table: for each, how
 * to read it from an Admin API Service resource and the gcloud flag that sets it. Everything that
 * compares or writes settings goes through {@link MANAGED_SETTINGS}: the differences a deploy looks
 * for (`serviceDifferences`), the `gcloud run services update` line an unmanaged service is refused
 * with, `bigmachine status`, and the test that holds `cloudbuild.yaml` to `workerServiceSpec`.
 *
 * Values are read as Cloud Run reports them, with its defaults for unset fields, and compared in
 * the units that matter ("1" and "1000m" CPUs are the same; so are "1Gi" and "1024Mi").
 */
import { protos } from "@google-cloud/run";
import { DEPLOYMENT_KEY_ENV } from "./attach-protocol.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "./keepalive.ts";
import type { RunService } from "./service-spec.ts";

/** A setting's value as read from a Service; undefined when unset and Cloud Run has no fixed default. */
export type SettingValue = string | number | boolean | undefined;

/** A setting with one value. */
export interface ValueSetting {
  kind: "value";
  /** What it is, in words, for messages. */
  what: string;
  /** The gcloud flag that sets it (`gcloud run deploy` and `gcloud run services update` alike). */
  flag: string;
  /** Its value in `service`. */
  read(service: RunService): SettingValue;
  /** The gcloud argument that sets it to `value`. */
  argument(value: SettingValue): string;
  /** Whether an existing value serves the wanted one; default: the same. */
  serves?(actual: SettingValue, wanted: SettingValue): boolean;
  /** The value as a message shows it; default its text. */
  show?(value: SettingValue): string;
}

/** A setting that is a map of names to values (environment variables, labels), compared name by name. */
export interface MapSetting {
  kind: "map";
  what: string;
  flag: string;
  read(service: RunService): Record<string, string>;
  /** The gcloud argument that sets `values` (and leaves other names as they are). */
  argument(values: Record<string, string>): string;
  /** Whether a message may show existing values (not for environment variables, which may be secrets). */
  showsValues: boolean;
}

/** The name of a managed setting: the Service field it lives in, as `serviceDifferences` names it. */
export type SettingName = keyof typeof MANAGED_SETTINGS;

type Container = protos.google.cloud.run.v2.IContainer;

const container = (service: RunService): Container => service.template?.containers?.[0] ?? {};
const resources = (service: RunService) => container(service).resources ?? {};
const onOff = (value: SettingValue) => (value ? "on" : "off");
const orUnset = (value: SettingValue) => (value === undefined ? "unset" : String(value));

/** A boolean setting set by gcloud's `--NAME` / `--no-NAME` pair. */
function toggle(what: string, name: string, read: (service: RunService) => boolean): ValueSetting {
  return { kind: "value", what, flag: `--[no-]${name}`, read, argument: (on) => (on ? `--${name}` : `--no-${name}`), show: onOff };
}

/** A setting set by `--NAME=VALUE`. */
function valued(what: string, name: string, read: (service: RunService) => SettingValue, extra: Partial<ValueSetting> = {}): ValueSetting {
  return { kind: "value", what, flag: `--${name}`, read, argument: (value) => `--${name}=${value}`, show: orUnset, ...extra };
}

/**
 * The managed settings and their gcloud flags. A cloudbuild-deployed or hand-made service must have
 * these as the Cloud Run System wants them; see docs/cloudrun.md ("Service settings") for why each.
 */
export const MANAGED_SETTINGS = {
  image: valued("container image", "image", (s) => container(s).image || undefined),
  maxInstanceRequestConcurrency: valued("requests per instance", "concurrency", (s) => Number(s.template?.maxInstanceRequestConcurrency ?? 0) || undefined),
  sessionAffinity: toggle("session affinity", "session-affinity", (s) => Boolean(s.template?.sessionAffinity)),
  timeout: valued("request timeout in seconds", "timeout", (s) => requestTimeoutMsOf(s) / 1000),
  // cpuIdle true (Cloud Run's default when unset) is gcloud's CPU throttling: CPU only during requests.
  cpuIdle: {
    kind: "value",
    what: "CPU only during requests",
    flag: "--[no-]cpu-throttling",
    read: (s) => resources(s).cpuIdle ?? true,
    argument: (idle) => (idle ? "--cpu-throttling" : "--no-cpu-throttling"),
    show: (idle) => (idle ? "yes (throttled)" : "no (always allocated)"),
  } satisfies ValueSetting,
  startupCpuBoost: toggle("startup CPU boost", "cpu-boost", (s) => Boolean(resources(s).startupCpuBoost)),
  executionEnvironment: valued("execution environment", "execution-environment", (s) => executionEnvironmentOf(s)),
  minInstanceCount: valued("minimum instances", "min-instances", (s) => Number(s.template?.scaling?.minInstanceCount ?? 0)),
  maxInstanceCount: valued("maximum instances", "max-instances", (s) => maxInstancesOf(s), {
    // A higher ceiling than wanted serves too: another driver may rely on it.
    serves: (actual, wanted) => Number(actual) >= Number(wanted),
  }),
  cpu: valued("CPUs per instance", "cpu", (s) => resources(s).limits?.cpu ?? undefined, {
    serves: (actual, wanted) => sameQuantity(cpuMillis, actual, wanted),
  }),
  memory: valued("memory per instance", "memory", (s) => resources(s).limits?.memory ?? undefined, {
    serves: (actual, wanted) => sameQuantity(memoryBytes, actual, wanted),
  }),
  serviceAccount: valued("service account", "service-account", (s) => s.template?.serviceAccount || undefined),
  env: {
    kind: "map",
    what: "environment variable",
    flag: "--update-env-vars",
    read: (s) => Object.fromEntries((container(s).env ?? []).filter((e) => e.name && e.value != null).map((e) => [e.name!, e.value!])),
    argument: (values) => `--update-env-vars=${gcloudDict(values)}`,
    showsValues: false,
  } satisfies MapSetting,
  labels: {
    kind: "map",
    what: "service label",
    flag: "--update-labels",
    read: (s) => ({ ...(s.labels ?? {}) }),
    argument: (values) => `--update-labels=${gcloudDict(values)}`,
    showsValues: true,
  } satisfies MapSetting,
  // gcloud sets labels on the service and its revision template alike.
  "template.labels": {
    kind: "map",
    what: "revision label",
    flag: "--update-labels",
    read: (s) => ({ ...(s.template?.labels ?? {}) }),
    argument: (values) => `--update-labels=${gcloudDict(values)}`,
    showsValues: true,
  } satisfies MapSetting,
} as const satisfies Record<string, ValueSetting | MapSetting>;

/** One setting in which an existing service falls short of the wanted one. */
export interface SettingDifference {
  /** The setting, e.g. `timeout`, or `env.NAME` / `labels.NAME` for one entry of a map. */
  setting: string;
  /** What it is, in words. */
  what: string;
  /** The gcloud flag that sets it. */
  flag: string;
  /** The existing value as a message shows it (environment values are not shown). */
  actual: string;
  /** The wanted value as a message shows it. */
  wanted: string;
  /** The gcloud argument that makes it right. */
  argument: string;
}

/**
 * The settings in which `existing` falls short of `wanted` (a Service from `workerServiceSpec`).
 * Settings `wanted` leaves unset (no service account, no labels or env named) are not compared; a
 * higher instance ceiling than wanted is no difference. The deployment key is not compared here:
 * any key serves (see `deploymentKeyProblem`).
 */
export function settingDifferences(existing: RunService, wanted: RunService): SettingDifference[] {
  const differences: SettingDifference[] = [];
  for (const [setting, spec] of Object.entries(MANAGED_SETTINGS) as [SettingName, ValueSetting | MapSetting][]) {
    if (spec.kind === "value") {
      const want = spec.read(wanted);
      if (want === undefined) continue;
      const actual = spec.read(existing);
      const serves = spec.serves ?? ((a, w) => a === w);
      if (actual !== undefined && serves(actual, want)) continue;
      const show = spec.show ?? String;
      differences.push({ setting, what: spec.what, flag: spec.flag, actual: show(actual), wanted: show(want), argument: spec.argument(want) });
      continue;
    }
    const actual = spec.read(existing);
    for (const [name, want] of Object.entries(spec.read(wanted))) {
      if (setting === "env" && name === DEPLOYMENT_KEY_ENV) continue;
      if (actual[name] === want) continue;
      const shown = actual[name] === undefined ? "unset" : spec.showsValues ? actual[name] : "another value";
      differences.push({ setting: `${setting}.${name}`, what: `${spec.what} ${name}`, flag: spec.flag, actual: shown, wanted: want, argument: spec.argument({ [name]: want }) });
    }
  }
  return differences;
}

/** The gcloud arguments that give a service the managed settings of `service`, in table order, once each. */
export function gcloudArguments(service: RunService): string[] {
  const args: string[] = [];
  for (const spec of Object.values(MANAGED_SETTINGS) as (ValueSetting | MapSetting)[]) {
    if (spec.kind === "value") {
      const value = spec.read(service);
      if (value !== undefined) args.push(spec.argument(value));
    } else {
      const values = spec.read(service);
      if (Object.keys(values).length > 0) args.push(spec.argument(values));
    }
  }
  return [...new Set(args)];
}

/** The service's request timeout in milliseconds (Cloud Run's default when unset). */
export function requestTimeoutMsOf(service: RunService): number {
  const seconds = service.template?.timeout?.seconds;
  return seconds == null ? DEFAULT_REQUEST_TIMEOUT_MS : Number(String(seconds)) * 1000;
}

/** The instance ceiling of a service (Cloud Run's default of 100 when unset). */
export function maxInstancesOf(service: RunService): number {
  const max = service.template?.scaling?.maxInstanceCount;
  return max == null || Number(max) === 0 ? 100 : Number(max);
}

/** The name of an enum value that may arrive as its name or its number. */
export function enumName(values: Record<string, string | number>, value: unknown): string | undefined {
  if (typeof value === "number") return values[value] as string | undefined;
  return typeof value === "string" ? value : undefined;
}

/** `gen1` or `gen2` as gcloud names them, or undefined when Cloud Run chooses. */
function executionEnvironmentOf(service: RunService): string | undefined {
  const name = enumName(protos.google.cloud.run.v2.ExecutionEnvironment, service.template?.executionEnvironment);
  const match = /^EXECUTION_ENVIRONMENT_(GEN\d)$/.exec(name ?? "");
  return match ? match[1]!.toLowerCase() : undefined;
}

/**
 * A map as one gcloud dictionary argument, `A=1,B=2`. A value holding a comma switches to gcloud's
 * alternate delimiter syntax (`^@^A=1,2@B=3`, see `gcloud topic escaping`).
 */
export function gcloudDict(values: Record<string, string>): string {
  const pairs = Object.entries(values).map(([name, value]) => `${name}=${value}`);
  const text = pairs.join("");
  if (!text.includes(",")) return pairs.join(",");
  const delimiter = ["@", ":", ";", "|", "#", "~", "+"].find((d) => !text.includes(d));
  if (!delimiter) throw new Error("no free delimiter for a gcloud dictionary argument");
  return `^${delimiter}^${pairs.join(delimiter)}`;
}

function sameQuantity(parse: (text: string) => number | undefined, actual: SettingValue, wanted: SettingValue): boolean {
  const a = parse(String(actual));
  return a !== undefined && a === parse(String(wanted));
}

/** Millicores in a CPU quantity (`"1"`, `"1000m"`, `"0.5"`). */
export function cpuMillis(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (match[2] === "m" ? 1 : 1000));
}

const MEMORY_UNITS: Record<string, number> = { "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** Bytes in a memory quantity (`"512Mi"`, `"2Gi"`, `"1G"`, `"536870912"`). */
export function memoryBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(k|K|M|G|Ki|Mi|Gi)?$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * MEMORY_UNITS[match[2] ?? ""]!);
}
