/**
 * @module
 * What create, update and delete do to a service: check it, fill Google's defaults, maintain the
 * output fields (generation, revisions, timestamps, etag, conditions), and start an Operation whose
 * work runs through the serving plane (`rollout.ts`). `validateOnly` requests are checked and answered
 * with the would-be result, changing nothing.
 */
import { randomUUID } from "node:crypto";
import { ApiError, invalidField } from "./api-error.ts";
import { reconcilingConditions } from "./conditions.ts";
import type { DeployPermissions } from "./deploy-permissions.ts";
import type { Operation, OperationStore } from "./operations.ts";
import type { IamPolicies } from "./iam-policies.ts";
import { applyUpdateMask } from "./update-mask.ts";
import type { ProtoJson } from "./proto-json.ts";
import { TYPES } from "./proto-schema.ts";
import {
  generatedRevisionName,
  locationName,
  parseServiceName,
  serviceIdProblem,
  type LocationName,
} from "./resource-names.ts";
import type { Rollouts } from "./rollout.ts";
import { withDefaults } from "./service-defaults.ts";
import { newEtag, serviceAny } from "./service-output.ts";
import { ServiceRecords, type ServiceRecord } from "./service-records.ts";
import { checkService } from "./service-validation.ts";

type Json = Record<string, any>;

/** What every write carries besides the resource. */
export interface WriteOptions {
  validateOnly?: boolean;
  /** The caller's email, recorded as `creator` / `lastModifier`. */
  caller: string;
}

/** Collaborators of {@link ServiceManager}. */
export interface ServiceManagerOptions {
  projectNumber: string;
  json: ProtoJson;
  operations: OperationStore;
  iam: IamPolicies;
  rollouts: Rollouts;
  /** When set, deploys are checked against it (`iam.serviceAccounts.actAs` on the template's account). */
  permissions?: DeployPermissions;
}

/** The services and the writes to them. */
export class ServiceManager {
  readonly records = new ServiceRecords();
  readonly #options: ServiceManagerOptions;

  constructor(options: ServiceManagerOptions) {
    this.#options = options;
  }

  /** Creates service `serviceId` in `location` from `input` (a parsed Service) and starts deploying it. */
  create(location: LocationName, serviceId: string | undefined, input: Json, options: WriteOptions, requestType = "CreateServiceRequest"): Operation {
    if (!serviceId) throw invalidField("service_id", `Violation in ${requestType}.service_id: required field not present.`);
    const idProblem = serviceIdProblem(serviceId);
    if (idProblem) throw invalidField("service_id", idProblem);
    const spec = this.#options.json.withoutOutputOnly(TYPES.service, input);
    checkService(spec, { requestType, serviceId, knownRevisions: new Set() });
    this.#options.permissions?.checkDeploy(options.caller, spec);
    const name = `${locationName(location)}/services/${serviceId}`;
    if (this.records.find(name)) throw new ApiError("ALREADY_EXISTS", `Resource '${serviceId}' already exists.`);
    const now = new Date().toISOString();
    const defaulted = withDefaults(spec, this.#options.projectNumber);
    delete defaulted.etag;
    const revision = defaulted.template.revision || generatedRevisionName(serviceId, 1);
    const service: Json = {
      ...defaulted,
      name,
      uid: randomUUID(),
      generation: "1",
      createTime: now,
      updateTime: now,
      creator: options.caller,
      lastModifier: options.caller,
      latestCreatedRevision: `${name}/revisions/${revision}`,
      reconciling: true,
      ...reconcilingConditions(undefined, now),
      etag: newEtag(),
    };
    if (options.validateOnly) return this.#answered(location, service);
    const record = this.records.add(location, serviceId, service);
    record.revisions.set(revision, templateKey(service.template));
    return this.#options.rollouts.deploy(record);
  }

  /** Updates service `name` from `input`; with `allowMissing`, creates it if it does not exist. */
  update(name: string, input: Json, options: WriteOptions & { allowMissing?: boolean; updateMask?: string }): Operation {
    const parsedName = parseServiceName(name)!;
    const record = this.records.find(name);
    if (!record) {
      if (!options.allowMissing) throw new ApiError("NOT_FOUND", `Resource '${name}' was not found`);
      return this.create(parsedName, parsedName.serviceId, input, options, "UpdateServiceRequest");
    }
    if (input.etag !== undefined && input.etag !== record.service.etag) throw staleEtag(input.etag);
    const { json, projectNumber } = this.#options;
    const current = json.withoutOutputOnly(TYPES.service, record.service);
    const requested = json.withoutOutputOnly(TYPES.service, input);
    const spec = options.updateMask ? applyUpdateMask(json.schema, current, requested, options.updateMask) : requested;
    delete spec.etag;
    checkService(spec, { requestType: "UpdateServiceRequest", serviceId: record.serviceId, knownRevisions: new Set(record.revisions.keys()) });
    this.#options.permissions?.checkDeploy(options.caller, spec);
    const defaulted = withDefaults(spec, projectNumber);
    const revision = this.#revisionFor(record, defaulted.template);
    const now = new Date().toISOString();
    const generation = String(Number(record.service.generation) + 1);
    const updated: Json = {
      ...defaulted,
      ...pick(record.service, ["name", "uid", "createTime", "creator", "uri", "urls", "latestReadyRevision", "trafficStatuses", "observedGeneration"]),
      generation,
      updateTime: now,
      lastModifier: options.caller,
      latestCreatedRevision: `${name}/revisions/${revision}`,
      reconciling: true,
      ...reconcilingConditions(record.service as any, now),
      etag: newEtag(),
    };
    if (options.validateOnly) return this.#answered(record.location, updated);
    record.service = updated;
    record.revisions.set(revision, templateKey(updated.template));
    return this.#options.rollouts.deploy(record);
  }

  /** Deletes service `name` (checking `etag` if given) and starts removing it from the serving plane. */
  delete(name: string, options: WriteOptions & { etag?: string }): Operation {
    const record = this.records.get(name);
    if (options.etag && options.etag !== record.service.etag) throw staleEtag(options.etag);
    const now = new Date().toISOString();
    const deleted = { ...record.service, deleteTime: now, lastModifier: options.caller, reconciling: true, etag: newEtag() };
    if (options.validateOnly) return this.#answered(record.location, deleted);
    record.service = deleted;
    record.deleted = true;
    this.#options.iam.delete(name);
    return this.#options.rollouts.remove(record);
  }

  /**
   * The revision an update rolls out: the template's own `revision` if set (it must be new, or the same
   * template as before), else the current one when the template is unchanged, else a new name.
   */
  #revisionFor(record: ServiceRecord, template: Json): string {
    const key = templateKey(template);
    const requested: string | undefined = template.revision;
    if (requested) {
      const existing = record.revisions.get(requested);
      if (existing !== undefined && existing !== key) {
        throw new ApiError("ALREADY_EXISTS", `Revision named '${requested}' with different configuration already exists.`);
      }
      return requested;
    }
    const latest = String(record.service.latestCreatedRevision).split("/").at(-1)!;
    if (record.revisions.get(latest) === key) return latest;
    return generatedRevisionName(record.serviceId, Number(record.service.generation) + 1);
  }

  /** A done Operation answering a `validateOnly` request; it is not stored. */
  #answered(location: LocationName, service: Json): Operation {
    return {
      name: `${locationName(location)}/operations/${randomUUID()}`,
      metadata: serviceAny(service),
      done: true,
      response: serviceAny(service),
    };
  }
}

function staleEtag(etag: string): ApiError {
  return new ApiError("ABORTED", `The etag "${etag}" does not match the current etag of the service; read it again and retry.`);
}

function pick(source: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((key) => source[key] !== undefined).map((key) => [key, source[key]]));
}

/** A template's identity for revision purposes: its JSON with sorted keys, without the revision name. */
function templateKey(template: Json): string {
  const { revision: _, ...rest } = template;
  return stableJson(rest);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
