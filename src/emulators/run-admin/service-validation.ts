/**
 * @module
 * Checks a Service (already parsed into canonical proto3 JSON) against Cloud Run's rules before it is
 * accepted: description length, labels and annotations (format and the reserved Google/Knative
 * prefixes), the required template, revision name, scaling, request timeout, concurrency, the
 * instance-wide CPU/memory table, traffic targets, and the containers (`container-validation.ts`).
 * Every problem found is reported together in one INVALID_ARGUMENT.
 */
import { checkContainers } from "./container-validation.ts";
import { durationSeconds } from "./proto-json.ts";
import { revisionNameProblem } from "./resource-names.ts";
import { DEFAULT_LIMITS, formatMemory, isAllowedCpu, memoryRangeFor, parseCpu, parseMemory } from "./resource-limits.ts";
import { Violations } from "./violations.ts";

type Json = Record<string, any>;

/** Label and annotation namespaces Cloud Run Admin API v2 rejects. */
export const RESERVED_KEY_PREFIXES = ["run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"];
/** Longest description accepted. */
export const MAX_DESCRIPTION_LENGTH = 512;
/** Longest request timeout, in seconds. */
export const MAX_TIMEOUT_SECONDS = 3600;
/** Most concurrent requests per instance. */
export const MAX_CONCURRENCY = 1000;
const MAX_LABELS = 64;
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
const ANNOTATION_KEY = /^(?:([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)\/)?([A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** What the checks need to know besides the Service. */
export interface ServiceCheckContext {
  /** `CreateServiceRequest` or `UpdateServiceRequest`, for messages. */
  requestType: string;
  /** The service's id (last segment of its name); revision names must start with it. */
  serviceId: string;
  /** Revisions the service already has, which traffic targets may name. */
  knownRevisions: ReadonlySet<string>;
}

/** Throws an INVALID_ARGUMENT {@link ApiError} listing every rule `service` breaks. */
export function checkService(service: Json, context: ServiceCheckContext): void {
  const problems = new Violations(context.requestType);
  if ((service.description ?? "").length > MAX_DESCRIPTION_LENGTH) {
    problems.add("service.description", `Description must be at most ${MAX_DESCRIPTION_LENGTH} characters; got ${service.description.length}.`);
  }
  checkLabels(service.labels ?? {}, "service.labels", problems);
  checkAnnotations(service.annotations ?? {}, "service.annotations", problems);
  checkScaling(service.scaling ?? {}, "service.scaling", problems);
  for (const [index, audience] of (service.customAudiences ?? []).entries()) {
    if (!audience) problems.add(`service.custom_audiences[${index}]`, "Custom audiences must not be empty.");
  }
  const template: Json | undefined = service.template;
  if (!template) problems.required("service.template");
  else checkTemplate(template, context, problems);
  checkTraffic(service.traffic ?? [], template?.revision, context, problems);
  problems.throwIfAny();
}

function checkTemplate(template: Json, context: ServiceCheckContext, problems: Violations): void {
  const at = "service.template";
  if (template.revision) {
    const problem = revisionNameProblem(context.serviceId, template.revision);
    if (problem) problems.add(`${at}.revision`, problem);
  }
  checkLabels(template.labels ?? {}, `${at}.labels`, problems);
  checkAnnotations(template.annotations ?? {}, `${at}.annotations`, problems);
  checkScaling(template.scaling ?? {}, `${at}.scaling`, problems);
  if (template.timeout !== undefined) {
    const seconds = durationSeconds(template.timeout);
    if (seconds <= 0 || seconds > MAX_TIMEOUT_SECONDS) {
      problems.add(`${at}.timeout`, `Timeout must be greater than 0s and at most ${MAX_TIMEOUT_SECONDS}s; got ${template.timeout}.`);
    }
  }
  const concurrency = template.maxInstanceRequestConcurrency ?? 0;
  if (concurrency < 0 || concurrency > MAX_CONCURRENCY) {
    problems.add(`${at}.max_instance_request_concurrency`, `Max instance request concurrency must be between 1 and ${MAX_CONCURRENCY}; got ${concurrency}.`);
  }
  if (template.serviceAccount !== undefined && !EMAIL.test(template.serviceAccount)) {
    problems.add(`${at}.service_account`, `Service account "${template.serviceAccount}" must be an email address.`);
  }
  const volumeNames: string[] = (template.volumes ?? []).map((volume: Json) => volume.name ?? "");
  volumeNames.forEach((name, index) => {
    if (!name) problems.required(`${at}.volumes[${index}].name`);
    else if (volumeNames.indexOf(name) !== index) problems.add(`${at}.volumes[${index}].name`, `Volume name "${name}" is used more than once.`);
  });
  checkContainers(template, at, problems);
  checkInstanceSize(template, at, problems);
}

/** The instance-wide rules: memory per CPU size, and what fractional CPU requires. */
function checkInstanceSize(template: Json, at: string, problems: Violations): void {
  const containers: Json[] = template.containers ?? [];
  let cpu = 0;
  let memory = 0;
  for (const container of containers) {
    const limits = container.resources?.limits ?? {};
    const containerCpu = parseCpu(limits.cpu ?? DEFAULT_LIMITS.cpu);
    const containerMemory = parseMemory(limits.memory ?? DEFAULT_LIMITS.memory);
    // Unreadable or disallowed sizes are reported per container; the totals would only repeat them.
    if (containerCpu === undefined || !isAllowedCpu(containerCpu) || containerMemory === undefined) return;
    cpu += containerCpu;
    memory += containerMemory;
  }
  if (containers.length === 0) return;
  const secondGeneration = template.executionEnvironment === "EXECUTION_ENVIRONMENT_GEN2";
  const range = memoryRangeFor(cpu, secondGeneration);
  if (memory < range.min || memory > range.max) {
    problems.add(`${at}.containers`, `Invalid value specified for memory. For ${cpu} CPU, memory must be between ${formatMemory(range.min)} and ${formatMemory(range.max)} inclusive; got ${formatMemory(memory)}.`);
  }
  if (cpu >= 1) return;
  if ((template.maxInstanceRequestConcurrency ?? 0) > 1) {
    problems.add(`${at}.max_instance_request_concurrency`, `Total CPU < 1 is not supported with concurrency > 1; got ${template.maxInstanceRequestConcurrency}.`);
  }
  if (secondGeneration) {
    problems.add(`${at}.execution_environment`, "Total CPU < 1 is not supported with the second generation execution environment.");
  }
  if (containers.some((container) => container.resources !== undefined && container.resources.cpuIdle !== true)) {
    problems.add(`${at}.containers`, "Total CPU < 1 requires CPU to be allocated only during request processing (cpu_idle: true).");
  }
}

function checkScaling(scaling: Json, at: string, problems: Violations): void {
  const min = scaling.minInstanceCount ?? 0;
  const max = scaling.maxInstanceCount ?? 0;
  if (min < 0) problems.add(`${at}.min_instance_count`, `Min instance count must not be negative; got ${min}.`);
  if (max < 0) problems.add(`${at}.max_instance_count`, `Max instance count must not be negative; got ${max}.`);
  if (max > 0 && min > max) {
    problems.add(`${at}.min_instance_count`, `Min instance count (${min}) must not be greater than max instance count (${max}).`);
  }
  if ((scaling.manualInstanceCount ?? 0) < 0) problems.add(`${at}.manual_instance_count`, "Manual instance count must not be negative.");
}

function checkTraffic(traffic: Json[], newRevision: string | undefined, context: ServiceCheckContext, problems: Violations): void {
  if (traffic.length === 0) return;
  let total = 0;
  const tags = new Set<string>();
  traffic.forEach((target, index) => {
    const at = `service.traffic[${index}]`;
    const percent = target.percent ?? 0;
    if (percent < 0 || percent > 100) problems.add(`${at}.percent`, `Traffic percent must be between 0 and 100; got ${percent}.`);
    total += percent;
    const type = target.type ?? "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED";
    if (type === "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION") {
      if (!target.revision) problems.required(`${at}.revision`);
      else if (!context.knownRevisions.has(target.revision) && target.revision !== newRevision) {
        problems.add(`${at}.revision`, `Revision '${target.revision}' does not exist or is deleted. Update all traffic to route to currently available revisions.`);
      }
    } else if (type === "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST") {
      if (target.revision) problems.add(`${at}.revision`, "A traffic target of type LATEST must not name a revision.");
    } else {
      problems.required(`${at}.type`);
    }
    if (target.tag) {
      if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(target.tag) || target.tag.length > 46) problems.add(`${at}.tag`, `Traffic tag "${target.tag}" must be a DNS label of at most 46 characters.`);
      if (tags.has(target.tag)) problems.add(`${at}.tag`, `Traffic tag "${target.tag}" is used more than once.`);
      tags.add(target.tag);
    }
  });
  if (total !== 100) problems.add("service.traffic", `Traffic percentages must add up to 100; got ${total}.`);
}

function reservedPrefixOf(key: string): string | undefined {
  const slash = key.indexOf("/");
  const domain = slash < 0 ? key : key.slice(0, slash);
  return RESERVED_KEY_PREFIXES.find((prefix) => domain === prefix || domain.endsWith(`.${prefix}`));
}

function checkLabels(labels: Record<string, string>, at: string, problems: Violations): void {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) problems.add(at, `At most ${MAX_LABELS} labels are allowed; got ${keys.length}.`);
  for (const key of keys) {
    const reserved = reservedPrefixOf(key);
    if (reserved) {
      problems.add(`${at}[${JSON.stringify(key)}]`, `Label "${key}" is in the reserved namespace "${reserved}"; Cloud Run API v2 does not accept labels in the ${RESERVED_KEY_PREFIXES.join(", ")} namespaces.`);
    } else if (!LABEL_KEY.test(key)) {
      problems.add(`${at}[${JSON.stringify(key)}]`, `Label key "${key}" must start with a lowercase letter and contain at most 63 lowercase letters, digits, underscores and hyphens.`);
    } else if (!LABEL_VALUE.test(labels[key]!)) {
      problems.add(`${at}[${JSON.stringify(key)}]`, `Label value "${labels[key]}" may contain at most 63 lowercase letters, digits, underscores and hyphens.`);
    }
  }
}

function checkAnnotations(annotations: Record<string, string>, at: string, problems: Violations): void {
  for (const key of Object.keys(annotations)) {
    const reserved = reservedPrefixOf(key);
    if (reserved) {
      problems.add(`${at}[${JSON.stringify(key)}]`, `Annotation "${key}" is in the reserved namespace "${reserved}"; Cloud Run API v2 does not accept annotations in the ${RESERVED_KEY_PREFIXES.join(", ")} namespaces.`);
    } else if (!ANNOTATION_KEY.test(key)) {
      problems.add(`${at}[${JSON.stringify(key)}]`, `Annotation key "${key}" must be an optional DNS subdomain prefix and "/", then a name of at most 63 letters, digits, "-", "_" and ".".`);
    }
  }
}
