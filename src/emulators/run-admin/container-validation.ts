/**
 * @module
 * Checks a revision template's containers as Cloud Run does: an image each, unique names, one port at
 * most (and exactly one ingress container when there are several), environment variables (reserved
 * names, size limits), resource limits (quantity syntax, allowed CPU sizes), probes, volume mounts and
 * startup dependencies. Instance-wide CPU/memory rules live in `service-validation.ts`.
 */
import { isAllowedCpu, parseCpu, parseMemory } from "./resource-limits.ts";
import type { Violations } from "./violations.ts";

type Json = Record<string, any>;

/** Environment variables Cloud Run sets itself, which a container may not set. */
export const RESERVED_ENV_NAMES = ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"] as const;
/** Most bytes an environment variable's value may have. */
export const MAX_ENV_VALUE_BYTES = 32_768;
const MAX_ENV_VARS = 1000;
const MAX_CONTAINERS = 10;
const PORT_NAMES = ["http1", "h2c"];
const LIMIT_KEYS = ["cpu", "memory", "nvidia.com/gpu"];
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Checks `template.containers` (at `path`, e.g. `service.template`), recording problems in `problems`. */
export function checkContainers(template: Json, path: string, problems: Violations): void {
  const containers: Json[] = template.containers ?? [];
  if (containers.length === 0) {
    problems.required(`${path}.containers`);
    return;
  }
  if (containers.length > MAX_CONTAINERS) {
    problems.add(`${path}.containers`, `A revision may have at most ${MAX_CONTAINERS} containers; got ${containers.length}.`);
  }
  const volumeNames = new Set<string>((template.volumes ?? []).map((volume: Json) => volume.name));
  const containerNames = containers.map((container) => container.name ?? "");
  containers.forEach((container, index) => {
    const at = `${path}.containers[${index}]`;
    if (!container.image) problems.required(`${at}.image`);
    checkName(container, containerNames, at, problems);
    checkPorts(container.ports ?? [], at, problems);
    checkEnv(container.env ?? [], at, problems);
    checkLimits(container.resources?.limits ?? {}, `${at}.resources.limits`, problems);
    for (const kind of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
      if (container[kind]) checkProbe(container[kind], kind, `${at}.${snake(kind)}`, problems);
    }
    (container.volumeMounts ?? []).forEach((mount: Json, mountIndex: number) => {
      const mountAt = `${at}.volume_mounts[${mountIndex}]`;
      if (!volumeNames.has(mount.name)) problems.add(`${mountAt}.name`, `Volume mount "${mount.name ?? ""}" does not name a volume of the revision.`);
      if (!String(mount.mountPath ?? "").startsWith("/")) problems.add(`${mountAt}.mount_path`, "Mount path must be an absolute path.");
    });
    for (const dependency of container.dependsOn ?? []) {
      if (dependency === container.name || !containerNames.includes(dependency)) {
        problems.add(`${at}.depends_on`, `Container dependency "${dependency}" does not name another container of the revision.`);
      }
    }
  });
  const withPorts = containers.filter((container) => (container.ports ?? []).length > 0).length;
  if (containers.length > 1 && withPorts !== 1) {
    problems.add(`${path}.containers`, "Exactly one container (the ingress container) must specify a port when a revision has several containers.");
  }
}

function checkName(container: Json, allNames: string[], at: string, problems: Violations): void {
  const name: string = container.name ?? "";
  if (allNames.length > 1 && !name) problems.required(`${at}.name`);
  if (name && (name.length > 63 || !DNS_LABEL.test(name))) {
    problems.add(`${at}.name`, `Container name "${name}" must be a DNS label of at most 63 characters.`);
  }
  if (name && allNames.indexOf(name) !== allNames.lastIndexOf(name)) {
    problems.add(`${at}.name`, `Container name "${name}" is used by more than one container.`);
  }
}

function checkPorts(ports: Json[], at: string, problems: Violations): void {
  if (ports.length > 1) problems.add(`${at}.ports`, "A container may specify at most one port.");
  ports.forEach((port, index) => {
    const portAt = `${at}.ports[${index}]`;
    if (port.name && !PORT_NAMES.includes(port.name)) {
      problems.add(`${portAt}.name`, `Port name must be "http1" or "h2c"; got "${port.name}".`);
    }
    const number = port.containerPort ?? 0;
    if (number < 1 || number > 65535) problems.add(`${portAt}.container_port`, `Container port must be between 1 and 65535; got ${number}.`);
  });
}

function checkEnv(env: Json[], at: string, problems: Violations): void {
  if (env.length > MAX_ENV_VARS) problems.add(`${at}.env`, `A container may set at most ${MAX_ENV_VARS} environment variables.`);
  const reserved = env.map((variable) => variable.name).filter((name) => (RESERVED_ENV_NAMES as readonly string[]).includes(name));
  if (reserved.length > 0) {
    problems.add(`${at}.env`, `The following reserved env names were provided: ${[...new Set(reserved)].join(", ")}. These values are automatically set by the system.`);
  }
  const seen = new Set<string>();
  env.forEach((variable, index) => {
    const varAt = `${at}.env[${index}]`;
    const name: string = variable.name ?? "";
    if (!name) problems.required(`${varAt}.name`);
    else if (name.includes("=")) problems.add(`${varAt}.name`, `Environment variable name "${name}" must not contain "=".`);
    if (name && seen.has(name)) problems.add(`${varAt}.name`, `Environment variable "${name}" is set more than once.`);
    seen.add(name);
    if (variable.value !== undefined && variable.valueSource !== undefined) {
      problems.add(varAt, `Environment variable "${name}" may set only one of value and value_source.`);
    }
    if (typeof variable.value === "string" && Buffer.byteLength(variable.value) > MAX_ENV_VALUE_BYTES) {
      problems.add(`${varAt}.value`, `Environment variable "${name}" has a value of ${Buffer.byteLength(variable.value)} bytes; the limit is ${MAX_ENV_VALUE_BYTES}.`);
    }
    if (variable.valueSource && !variable.valueSource.secretKeyRef?.secret) {
      problems.required(`${varAt}.value_source.secret_key_ref.secret`);
    }
  });
}

function checkLimits(limits: Record<string, string>, at: string, problems: Violations): void {
  for (const [key, value] of Object.entries(limits)) {
    if (!LIMIT_KEYS.includes(key)) problems.add(`${at}[${JSON.stringify(key)}]`, `Unsupported resource limit "${key}"; Cloud Run accepts ${LIMIT_KEYS.join(", ")}.`);
  }
  if (limits.cpu !== undefined) {
    const cpu = parseCpu(limits.cpu);
    if (cpu === undefined || !isAllowedCpu(cpu)) {
      problems.add(`${at}["cpu"]`, `Invalid value specified for cpu: "${limits.cpu}". CPU must be 1, 2, 4, 6 or 8, or a fraction from 0.08 up to (not including) 1.`);
    }
  }
  if (limits.memory !== undefined && parseMemory(limits.memory) === undefined) {
    problems.add(`${at}["memory"]`, `Invalid value specified for memory: "${limits.memory}". Use a quantity such as "512Mi" or "2Gi".`);
  }
}

function checkProbe(probe: Json, kind: string, at: string, problems: Violations): void {
  const maxPeriod = kind === "startupProbe" ? 240 : 3600;
  const period = probe.periodSeconds ?? 10;
  const timeout = probe.timeoutSeconds ?? 1;
  const initialDelay = probe.initialDelaySeconds ?? 0;
  if (initialDelay < 0 || initialDelay > 240) problems.add(`${at}.initial_delay_seconds`, "Initial delay must be between 0 and 240 seconds.");
  if (period < 1 || period > maxPeriod) problems.add(`${at}.period_seconds`, `Period must be between 1 and ${maxPeriod} seconds.`);
  if (timeout < 1 || timeout > 240) problems.add(`${at}.timeout_seconds`, "Timeout must be between 1 and 240 seconds.");
  else if (timeout > period) problems.add(`${at}.timeout_seconds`, "Timeout must not be greater than the period.");
  if ((probe.failureThreshold ?? 3) < 1) problems.add(`${at}.failure_threshold`, "Failure threshold must be at least 1.");
  const actions = ["httpGet", "tcpSocket", "grpc"].filter((action) => probe[action] !== undefined);
  if (actions.length > 1) problems.add(at, "A probe may specify only one of http_get, tcp_socket and grpc.");
  if (kind === "livenessProbe" && probe.tcpSocket !== undefined) problems.add(`${at}.tcp_socket`, "Liveness probes do not support TCP socket checks.");
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}
