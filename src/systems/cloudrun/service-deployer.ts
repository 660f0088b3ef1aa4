/**
 * @module
 * Creates or updates the Cloud Run service the worker runs in, and lets accounts invoke it, through the
 * official Admin API client (`v2.ServicesClient`).
 *
 * {@link ensureService} is idempotent: a service that does not exist is created with a fresh deployment
 * key and the `managed-by: bigmachine` label; one that exists keeps its key (drivers sharing it hold
 * proofs under it). A service with the label is bigmachine's own: it is updated only when it lacks a
 * setting asked for (see `serviceDifferences`), so repeated calls make no new revision, and its
 * instance ceiling is never lowered. A service without the label was deployed by someone else (by
 * hand, by `cloudbuild.yaml`): it is used as it is when its settings serve, and otherwise refused with
 * the gcloud command that makes it fit; bigmachine never changes it. Either way the call returns once
 * the service is ready by the Admin API's rule: not reconciling, the terminal condition succeeded, and
 * the latest created revision is the latest ready one.
 *
 * An update sends the whole Service (no field mask), carrying the etag read, so a concurrent writer makes
 * it fail (retriable) rather than be overwritten; settings this module does not manage (ingress, VPC
 * access, …) are reset to Cloud Run's defaults by it, labels set by others are kept.
 */
import { protos, type v2 } from "@google-cloud/run";
import { errorOf, type BigmachineError } from "../../core.ts";
import { newDeploymentKey } from "./attach-protocol.ts";
import { adminApiError, failedConditionReason, statusOf, unmanagedServiceError } from "./service-errors.ts";
import { settingDifferences } from "./service-settings.ts";
import {
  deploymentKeyOf,
  deploymentKeyProblem,
  enumName,
  isManaged,
  MANAGED_LABEL,
  maxInstancesOf,
  requestTimeoutMsOf,
  resolveServiceOptions,
  serviceDifferences,
  workerServiceSpec,
  type ResolvedServiceOptions,
  type RunService,
  type WorkerServiceOptions,
} from "./service-spec.ts";

/** The Admin API client the deployer drives. */
export type ServicesClient = InstanceType<typeof v2.ServicesClient>;

/** The service as a driver needs it. */
export interface DeployedService {
  /** The URL attaches go to. */
  uri: string;
  /** The full resource name, `projects/P/locations/L/services/S`. */
  name: string;
  /** The key the worker checks attach proofs under. */
  deploymentKey: string;
  /** The short name of the ready revision (what instances see as `K_REVISION`). */
  revision: string;
  /** The service's request timeout, for `cloudRunTimings`. */
  requestTimeoutMs: number;
  /** Whether bigmachine manages the service (it carries the `managed-by: bigmachine` label). */
  managed: boolean;
  /** What this call did to it: created it, updated it (a new revision), or nothing. */
  change: "created" | "updated" | "unchanged";
}

/** How long to wait for a service another deploy is still reconciling. */
export interface ReadinessOptions {
  /** Bound on waiting for a service to settle. Default 10 minutes. */
  readyTimeoutMs?: number;
  /** Between reads of a settling service. Default 1 s. */
  pollIntervalMs?: number;
}

/** The role that lets an account call a service. */
export const INVOKER_ROLE = "roles/run.invoker";

/**
 * Makes sure the worker's service exists with the settings of `options`, and returns it once ready.
 * Throws a BigmachineError: `invalid` for bad options, `unauthorized` when the caller may not deploy,
 * `precondition` (fatal) for a service bigmachine did not deploy whose settings or deployment key do
 * not serve (naming each and the gcloud command that fixes them), `unavailable` (fatal) naming the
 * reason when the revision fails (e.g. `CONTAINER_MISSING`, `HEALTH_CHECK_CONTAINER_ERROR`), `timeout`
 * when the service does not settle in time.
 */
export async function ensureService(client: ServicesClient, options: WorkerServiceOptions & ReadinessOptions): Promise<DeployedService> {
  const resolved = resolveServiceOptions(options);
  const parent = `projects/${resolved.project}/locations/${resolved.region}`;
  const name = `${parent}/services/${resolved.name}`;
  const wait = { readyTimeoutMs: options.readyTimeoutMs ?? 600_000, pollIntervalMs: options.pollIntervalMs ?? 1_000 };

  let existing = await findService(client, name);
  if (!existing) {
    const deploymentKey = newDeploymentKey();
    const service = workerServiceSpec(resolved, deploymentKey);
    service.labels = { ...service.labels, [MANAGED_LABEL.key]: MANAGED_LABEL.value };
    let operation: { promise(): Promise<unknown> } | undefined;
    try {
      [operation] = await client.createService({ parent, serviceId: resolved.name, service });
    } catch (err) {
      // Another driver created it first: go on with theirs.
      if (statusOf(err) !== "ALREADY_EXISTS") throw adminApiError(`create service ${name}`, err);
    }
    if (operation) {
      await settle(client, name, operation, wait);
      return await readyService(client, name, wait, "created");
    }
    existing = await findService(client, name);
    if (!existing) throw errorOf("unavailable", `cloud run service ${name} was created by someone else and is gone again`);
  }
  // Another deploy in flight: its outcome decides what this one must change.
  if (existing.reconciling) existing = await waitSettled(client, name, wait);
  if (!isManaged(existing)) return useUnmanaged(existing, resolved, name);
  const deploymentKey = deploymentKeyProblem(existing) ? newDeploymentKey() : deploymentKeyOf(existing)!;
  if (serviceDifferences(existing, resolved).length === 0 && isServiceReady(existing)) return describe(existing, name, "unchanged");
  const service: RunService = {
    ...workerServiceSpec(resolved, deploymentKey, maxInstancesOf(existing)),
    name,
    // Keep labels someone else put on the service; ours win.
    labels: { ...(existing.labels ?? {}), ...resolved.labels, [MANAGED_LABEL.key]: MANAGED_LABEL.value },
    etag: existing.etag,
  };
  const [operation] = await call(`update service ${name}`, () => client.updateService({ service }));
  await settle(client, name, operation, wait);
  return await readyService(client, name, wait, "updated");
}

/** A service someone else deployed, as it is if it serves; refused with what it lacks otherwise. */
function useUnmanaged(existing: RunService, resolved: ResolvedServiceOptions, name: string): DeployedService {
  const differences = settingDifferences(existing, workerServiceSpec(resolved, ""));
  const keyProblem = deploymentKeyProblem(existing);
  if (differences.length > 0 || keyProblem) throw unmanagedServiceError({ name, differences, keyProblem });
  if (!isServiceReady(existing)) throw revisionFailure(name, existing);
  return describe(existing, name, "unchanged");
}

/**
 * Adds `member` (e.g. `serviceAccount:x@p.iam.gserviceaccount.com`, `user:…`) to `roles/run.invoker` on
 * service `serviceName`, keeping every other binding. The read-modify-write carries the policy's etag and
 * is retried a few times when another writer got in between. Resolves to false when the member already
 * had the role (nothing was written), true when it was added.
 */
export async function grantInvoker(client: ServicesClient, serviceName: string, member: string): Promise<boolean> {
  if (!/^[a-zA-Z]+:\S+$|^allUsers$|^allAuthenticatedUsers$/.test(member)) {
    throw errorOf("invalid", `IAM member ${JSON.stringify(member)} must look like kind:identity (e.g. serviceAccount:name@project.iam.gserviceaccount.com)`, { severity: "fatal" });
  }
  for (let attempt = 1; ; attempt++) {
    const [policy] = await call(`read the IAM policy of ${serviceName}`, () => readAgainOnReset(() => client.getIamPolicy({ resource: serviceName })));
    const bindings = (policy.bindings ?? []).map((b) => ({ ...b, members: [...(b.members ?? [])] }));
    const binding = bindings.find((b) => b.role === INVOKER_ROLE && !b.condition);
    if (binding?.members.includes(member)) return false;
    if (binding) binding.members.push(member);
    else bindings.push({ role: INVOKER_ROLE, members: [member] });
    try {
      await client.setIamPolicy({ resource: serviceName, policy: { ...policy, bindings } });
      return true;
    } catch (err) {
      // ABORTED: the etag is stale, another writer got in between; read again.
      if (statusOf(err) !== "ABORTED" || attempt >= 5) throw adminApiError(`set the IAM policy of ${serviceName}`, err);
    }
  }
}

/**
 * Deletes service `name` (`projects/P/locations/R/services/S`) with all its revisions, and waits until
 * it is gone. Throws kind `not-exist` when there is no such service.
 */
export async function deleteService(client: ServicesClient, name: string): Promise<void> {
  const [operation] = await call(`delete service ${name}`, () => client.deleteService({ name }));
  await call(`delete service ${name}`, () => operation.promise());
}

/** Runs an Admin API call, turning its failure into a typed error. */
async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    throw adminApiError(what, err);
  }
}

/** Transport failures a repeated read may not meet: a reused connection reset, a server briefly unavailable. */
const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown; errno?: unknown } | null)?.code ?? (err as { errno?: unknown } | null)?.errno;
  return (typeof code === "string" && TRANSIENT_CODES.has(code)) || statusOf(err) === "UNAVAILABLE" || /socket hang up/.test(String((err as Error)?.message));
}

/**
 * Runs an idempotent read, again (up to three times, 100 ms apart and growing) when it fails in
 * transit: a keep-alive connection the server closed as the request went out is reset, and any read
 * may meet a moment of unavailability. Other failures are the caller's.
 */
export async function readAgainOnReset<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (attempt >= 3 || !isTransient(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** The service named `name` (`projects/P/locations/R/services/S`), or undefined when it does not exist. */
export async function findService(client: ServicesClient, name: string): Promise<RunService | undefined> {
  try {
    const [service] = await readAgainOnReset(() => client.getService({ name }));
    return service;
  } catch (err) {
    if (statusOf(err) === "NOT_FOUND") return undefined;
    throw adminApiError(`read service ${name}`, err);
  }
}

/**
 * Waits for a create or update operation. A failed one is explained by the service's terminal condition
 * (its reason, e.g. `CONTAINER_MISSING`), which the operation's error does not always name.
 */
async function settle(client: ServicesClient, name: string, operation: { promise(): Promise<unknown> }, wait: Required<ReadinessOptions>): Promise<void> {
  try {
    await operation.promise();
  } catch (err) {
    const failure = adminApiError(`deploy service ${name}`, err);
    const service = await findService(client, name).catch(() => undefined);
    const settled = service?.reconciling ? await waitSettled(client, name, wait).catch(() => service) : service;
    if (failedConditionReason(settled?.terminalCondition) === undefined) throw failure;
    throw revisionFailure(name, settled, failure);
  }
}

/** Reads the service until it is ready, failing with its reason when it failed. */
async function readyService(client: ServicesClient, name: string, wait: Required<ReadinessOptions>, change: DeployedService["change"]): Promise<DeployedService> {
  const service = await waitSettled(client, name, wait);
  if (!isServiceReady(service)) throw revisionFailure(name, service);
  return describe(service, name, change);
}

/** Polls until the service is no longer reconciling, within the bound. */
async function waitSettled(client: ServicesClient, name: string, wait: Required<ReadinessOptions>): Promise<RunService> {
  const deadline = Date.now() + wait.readyTimeoutMs;
  for (;;) {
    const service = await findService(client, name);
    if (!service) throw errorOf("not-exist", `cloud run service ${name} was deleted while deploying`, { severity: "fatal" });
    if (!service.reconciling) return service;
    if (Date.now() >= deadline) {
      throw errorOf("timeout", `cloud run service ${name} was still reconciling after ${wait.readyTimeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait.pollIntervalMs));
  }
}

/** Whether `service` is ready by the Admin API's rule: settled, succeeded, its latest revision serving. */
export function isServiceReady(service: RunService): boolean {
  return (
    !service.reconciling &&
    failedConditionReason(service.terminalCondition) === undefined &&
    isSucceeded(service) &&
    String(service.observedGeneration) === String(service.generation) &&
    Boolean(service.latestReadyRevision) &&
    service.latestReadyRevision === service.latestCreatedRevision
  );
}

function isSucceeded(service: RunService): boolean {
  return enumName(protos.google.cloud.run.v2.Condition.State, service.terminalCondition?.state) === "CONDITION_SUCCEEDED";
}

/** The error for a service whose latest revision is not ready, naming the reason Cloud Run gives. */
export function revisionFailure(name: string, service: RunService | undefined, cause?: BigmachineError): BigmachineError {
  const condition = service?.terminalCondition;
  const reason = failedConditionReason(condition) ?? "UNKNOWN";
  const detail = condition?.message || cause?.message || "the service is not ready";
  return errorOf("unavailable", `cloud run service ${name} failed to deploy (${reason}): ${detail}`, {
    severity: "fatal",
    cause,
  });
}

function describe(service: RunService, name: string, change: DeployedService["change"]): DeployedService {
  const deploymentKey = deploymentKeyOf(service);
  if (!service.uri || !deploymentKey) {
    throw errorOf("precondition", `cloud run service ${name} is ready but has no ${service.uri ? "deployment key" : "URL"}`, { severity: "fatal" });
  }
  return {
    uri: service.uri,
    name,
    deploymentKey,
    revision: String(service.latestReadyRevision).split("/").at(-1)!,
    requestTimeoutMs: requestTimeoutMsOf(service),
    managed: isManaged(service),
    change,
  };
}
