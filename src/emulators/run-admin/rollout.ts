/**
 * @module
 * The work behind each Operation: deploying a service's new generation to the serving plane, or
 * removing it, in order per service. When the work settles (and after the configured extra delay) the
 * service's status fields are updated, as Cloud Run's reconciler would, and the Operation finishes
 * with the Service or with the error: FAILED_PRECONDITION (code 9) with the revision's failure when the
 * serving plane rejects a revision, INTERNAL for anything else.
 */
import type { RunService, ServingBackend } from "../contracts.ts";
import { ApiError } from "./api-error.ts";
import { failedConditions, succeededConditions } from "./conditions.ts";
import type { Operation, OperationStore, Outcome } from "./operations.ts";
import { newEtag, serviceAny } from "./service-output.ts";
import type { ServiceRecord } from "./service-records.ts";

type Json = Record<string, any>;

/** Collaborators of {@link Rollouts}. */
export interface RolloutOptions {
  serving: ServingBackend;
  operations: OperationStore;
  /** Extra time an operation stays not done once its work has settled. */
  operationDelayMs: number;
}

/** Runs serving-plane work for services and finishes their Operations. */
export class Rollouts {
  readonly #options: RolloutOptions;
  #closed = false;

  constructor(options: RolloutOptions) {
    this.#options = options;
  }

  /** Starts rolling out the record's current generation; returns its Operation. */
  deploy(record: ServiceRecord): Operation {
    const snapshot = structuredClone(record.service) as RunService;
    const operation = this.#options.operations.start(record.location, serviceAny(snapshot));
    this.#enqueue(record, operation, async () => {
      if (this.#closed) return { error: new ApiError("UNAVAILABLE", "The emulator is shutting down.").toStatus() };
      const result = await this.#options.serving.deploy(snapshot).then(
        (deployment) => ({ deployment }),
        (error: unknown) => ({ error }),
      );
      await this.#options.operations.delay(this.#options.operationDelayMs);
      return "deployment" in result
        ? this.#deployed(record, snapshot, result.deployment)
        : this.#failed(record, snapshot, result.error);
    });
    return operation;
  }

  /** Starts removing the (already marked deleted) record's service; returns its Operation. */
  remove(record: ServiceRecord): Operation {
    const operation = this.#options.operations.start(record.location, serviceAny(record.service));
    this.#enqueue(record, operation, async () => {
      const removal = await this.#options.serving.remove(record.service.name).then(
        () => undefined,
        (error: unknown) => error,
      );
      await this.#options.operations.delay(this.#options.operationDelayMs);
      if (removal !== undefined) {
        return { error: new ApiError("INTERNAL", `Could not remove the service: ${messageOf(removal)}`).toStatus() };
      }
      record.service = { ...record.service, reconciling: false };
      return { response: serviceAny(record.service) };
    });
    return operation;
  }

  /** Refuses new serving-plane work and waits for the work in flight. */
  async close(records: readonly ServiceRecord[]): Promise<void> {
    this.#closed = true;
    await Promise.all(records.map((record) => record.queue));
  }

  #enqueue(record: ServiceRecord, operation: Operation, work: () => Promise<Outcome>): void {
    const { operations } = this.#options;
    record.queue = record.queue.then(async () => {
      let outcome: Outcome;
      try {
        outcome = await work();
      } catch (error) {
        outcome = { error: new ApiError("INTERNAL", messageOf(error)).toStatus() };
      }
      operations.finish(operation.name, outcome);
    });
  }

  #deployed(record: ServiceRecord, snapshot: Json, deployment: { uri: string; revision: string }): Outcome {
    if (record.deleted) {
      return { error: new ApiError("ABORTED", "The service was deleted before its revision became ready.").toStatus() };
    }
    const ready = `${snapshot.name}/revisions/${deployment.revision}`;
    record.revisions.set(deployment.revision, record.revisions.get(revisionOf(snapshot)) ?? "");
    const service: Json = { ...record.service, uri: deployment.uri, urls: [deployment.uri], latestReadyRevision: ready };
    if (service.generation === snapshot.generation) {
      const now = new Date().toISOString();
      Object.assign(service, succeededConditions(service as any, now), {
        latestCreatedRevision: ready, // the serving plane names the revision it made
        observedGeneration: service.generation,
        reconciling: false,
        trafficStatuses: trafficStatuses(service.traffic ?? []),
        etag: newEtag(),
      });
    }
    record.service = service;
    return { response: serviceAny(service) };
  }

  #failed(record: ServiceRecord, snapshot: Json, error: unknown): Outcome {
    const revision = revisionOf(snapshot);
    const reason = isDeployError(error) ? error.reason : "INTERNAL";
    const failure = isDeployError(error)
      ? new ApiError("FAILED_PRECONDITION", `Revision '${revision}' is not ready and cannot serve traffic. ${error.message}`)
      : new ApiError("INTERNAL", `Revision '${revision}' could not be deployed: ${messageOf(error)}`);
    if (!record.deleted && record.service.generation === snapshot.generation) {
      const now = new Date().toISOString();
      const conditions = failedConditions(record.service as any, now, {
        message: failure.message,
        reason,
        earlierRevisionServing: Boolean(record.service.latestReadyRevision),
      });
      record.service = { ...record.service, ...conditions, observedGeneration: snapshot.generation, reconciling: false, etag: newEtag() };
    }
    return { error: failure.toStatus() };
  }
}

/** The short name of the revision a snapshot rolls out. */
function revisionOf(snapshot: Json): string {
  return String(snapshot.latestCreatedRevision).split("/").at(-1)!;
}

/** Where traffic goes: each target of the spec (Cloud Run names no revision for LATEST targets). */
function trafficStatuses(traffic: Json[]): Json[] {
  return traffic.map((target) => {
    const status: Json = { type: target.type, percent: target.percent ?? 0 };
    if (target.revision) status.revision = target.revision;
    if (target.tag) status.tag = target.tag;
    if (status.percent === 0) delete status.percent;
    return status;
  });
}

/** A {@link DeployError}, recognized by shape so copies of the class from another module instance count. */
function isDeployError(error: unknown): error is Error & { reason: string } {
  return error instanceof Error && error.name === "DeployError" && typeof (error as { reason?: unknown }).reason === "string";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
