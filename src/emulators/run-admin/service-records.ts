/**
 * @module
 * The services the emulator holds, with what Cloud Run keeps beside each: its revisions (and the
 * template each was made from), whether it is deleted (deleted services stay listable with
 * `showDeleted` until a new service takes the name), and a queue that keeps its calls to the serving
 * plane in order, so a removal can never overtake a deployment still in flight.
 */
import { ApiError, notFound } from "./api-error.ts";
import { pageOf, type Page } from "./paging.ts";
import { locationName, type LocationName } from "./resource-names.ts";

type Json = Record<string, any>;

/** One service and its bookkeeping. */
export interface ServiceRecord {
  /** The Service as the API returns it (canonical JSON, every output field maintained). */
  service: Json;
  /** The service id, the last segment of its name. */
  readonly serviceId: string;
  readonly location: LocationName;
  deleted: boolean;
  /** Revision (short name) → the JSON of the template it was made from. */
  readonly revisions: Map<string, string>;
  /** Serving-plane work for this name, in order; never rejects. */
  queue: Promise<void>;
}

/** Every service by full name. */
export class ServiceRecords {
  readonly #records = new Map<string, ServiceRecord>();

  /** The live (not deleted) service named `name`, or `undefined`. */
  find(name: string): ServiceRecord | undefined {
    const record = this.#records.get(name);
    return record && !record.deleted ? record : undefined;
  }

  /** The live service named `name`; throws NOT_FOUND otherwise. */
  get(name: string): ServiceRecord {
    const record = this.find(name);
    if (!record) throw notFound(name);
    return record;
  }

  /**
   * Adds a new service, replacing a deleted one of the same name; its serving-plane queue continues
   * the old one's. Throws ALREADY_EXISTS if a live service has the name.
   */
  add(location: LocationName, serviceId: string, service: Json): ServiceRecord {
    const name = `${locationName(location)}/services/${serviceId}`;
    const previous = this.#records.get(name);
    if (previous && !previous.deleted) throw new ApiError("ALREADY_EXISTS", `Resource '${serviceId}' already exists.`);
    const record: ServiceRecord = {
      service,
      serviceId,
      location,
      deleted: false,
      revisions: new Map(),
      queue: previous?.queue ?? Promise.resolve(),
    };
    this.#records.set(name, record);
    return record;
  }

  /** One page of the services of `location`; deleted ones only if `showDeleted`. */
  list(location: LocationName, request: { pageSize?: number; pageToken?: string; showDeleted?: boolean }): Page<ServiceRecord> {
    const prefix = `${locationName(location)}/services/`;
    const matching = [...this.#records.entries()]
      .filter(([name, record]) => name.startsWith(prefix) && (request.showDeleted || !record.deleted))
      .map(([, record]) => record);
    return pageOf(matching, (record) => record.service.name, {
      ...request,
      scope: `${prefix}?showDeleted=${Boolean(request.showDeleted)}`,
    });
  }

  /** Every record, deleted ones included. */
  all(): ServiceRecord[] {
    return [...this.#records.values()];
  }
}
