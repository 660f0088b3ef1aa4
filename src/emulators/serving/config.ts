/**
 * @module
 * What the serving plane reads from a Service: the settings of its ingress container and the routing
 * rules of its template, with Cloud Run's defaults applied where the field is unset.
 */
import { randomInt } from "node:crypto";
import type { RunService } from "../contracts.ts";
import { DEFAULT_LIMITS, parseMemory } from "../run-admin/resource-limits.ts";

/** The routing and container settings of one revision. */
export interface RevisionConfig {
  /** Full service name, `projects/P/locations/L/services/S`. */
  serviceName: string;
  /** The short service id, `S`. */
  serviceId: string;
  image: string;
  /** The container's `command` and `args`, if set. */
  command: string[];
  args: string[];
  env: Record<string, string>;
  /** Requests one instance takes at once. */
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  /** The request timeout, in milliseconds. */
  timeoutMs: number;
  sessionAffinity: boolean;
  /** Audiences accepted besides the service URL. */
  customAudiences: string[];
  /** True when the service takes no traffic at all (`INGRESS_TRAFFIC_NONE`). */
  ingressNone: boolean;
  /** True when the invoker check is off (`invokerIamDisabled`). */
  invokerIamDisabled: boolean;
  /** The ingress container's memory limit in bytes (Cloud Run's default, 512 MiB, when unset). */
  memoryLimitBytes: number;
}

const DEFAULT_MAX_INSTANCES = 100;
const DEFAULT_TIMEOUT_MS = 300_000;

function durationMs(value: unknown): number | undefined {
  if (typeof value === "string") {
    const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
    if (m) return Math.round(Number(m[1]) * 1000);
  }
  if (value && typeof value === "object" && "seconds" in value) return Number((value as { seconds: unknown }).seconds) * 1000;
  return undefined;
}

function cpuOf(limit: unknown): number {
  if (typeof limit !== "string" || limit === "") return 1;
  return limit.endsWith("m") ? Number(limit.slice(0, -1)) / 1000 : Number(limit);
}

function count(value: unknown): number | undefined {
  const n = typeof value === "string" ? Number(value) : typeof value === "number" ? value : undefined;
  return n === undefined || Number.isNaN(n) ? undefined : n;
}

/** Reads the revision settings of `service` (already validated by the Admin API). */
export function revisionConfig(service: RunService): RevisionConfig {
  const template = service.template ?? {};
  const containers: Record<string, any>[] = template.containers ?? [];
  // The ingress container is the one with a port, or the only one.
  const container = containers.find((c) => (c.ports ?? []).length > 0) ?? containers[0] ?? {};
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (typeof e?.name === "string" && typeof e.value === "string") env[e.name] = e.value;
  const cpu = cpuOf(container.resources?.limits?.cpu);
  const concurrency = count(template.maxInstanceRequestConcurrency) || (cpu >= 1 ? 80 : 1);
  const scaling = template.scaling ?? {};
  const ingress = service.ingress;
  return {
    serviceName: service.name,
    serviceId: service.name.split("/").pop() ?? service.name,
    image: String(container.image ?? ""),
    command: Array.isArray(container.command) ? container.command.map(String) : [],
    args: Array.isArray(container.args) ? container.args.map(String) : [],
    env,
    concurrency,
    minInstances: count(scaling.minInstanceCount) ?? 0,
    maxInstances: count(scaling.maxInstanceCount) || DEFAULT_MAX_INSTANCES,
    timeoutMs: durationMs(template.timeout) ?? DEFAULT_TIMEOUT_MS,
    sessionAffinity: template.sessionAffinity === true,
    customAudiences: Array.isArray(service.customAudiences) ? service.customAudiences.map(String) : [],
    ingressNone: ingress === "INGRESS_TRAFFIC_NONE" || ingress === 4,
    invokerIamDisabled: service.invokerIamDisabled === true,
    memoryLimitBytes: parseMemory(String(container.resources?.limits?.memory ?? "")) ?? parseMemory(DEFAULT_LIMITS.memory)!,
  };
}

/**
 * The argv an instance runs: the image's mapped command, then the container's `command` (replacing
 * nothing: the mapped command plays the image's entrypoint, so `command` and `args` are appended as
 * arguments, the way a container's entrypoint receives them).
 */
export function instanceArgv(mapped: readonly string[], config: RevisionConfig): string[] {
  return [...mapped, ...config.command, ...config.args];
}

/**
 * The new revision's name: the one the Admin API recorded as `latestCreatedRevision`, else Cloud
 * Run's pattern `SERVICE-0000N-xyz` with N the generation (or the deploy count).
 */
export function revisionNameOf(service: RunService, serviceId: string, deploys: number): string {
  const recorded = String(service.latestCreatedRevision ?? "").split("/").pop();
  if (recorded) return recorded;
  const generation = Number(service.generation);
  const n = Number.isInteger(generation) && generation > 0 ? generation : deploys;
  const suffix = Array.from({ length: 3 }, () => "abcdefghijklmnopqrstuvwxyz"[randomInt(26)]).join("");
  return `${serviceId}-${String(n).padStart(5, "0")}-${suffix}`;
}
