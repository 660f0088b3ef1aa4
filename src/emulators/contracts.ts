/**
 * @module
 * The seams between the emulators: the Admin API emulator hands services to the serving plane, the
 * serving plane turns instance output into log entries for the Logging emulator, and the serving
 * plane asks the Admin API emulator for a service's IAM policy when it checks a request.
 *
 * These types describe Google's wire shapes (camelCase JSON), not bigmachine's.
 */

/** A Cloud Run Admin API v2 Service as JSON, as Google serializes it (int64 as strings, enums as names). */
export type RunService = Record<string, any> & {
  name: string;
  uid?: string;
  generation?: string;
  template: Record<string, any>;
};

/** An IAM policy as the Admin API takes and returns it. */
export interface IamPolicy {
  version?: number;
  bindings?: { role: string; members: string[] }[];
  etag?: string;
}

/** What the serving plane reports once a revision of a service is ready to serve. */
export interface Deployment {
  /** The service's URL on loopback, e.g. `http://127.0.0.1:41234`. */
  uri: string;
  /** Name of the revision now serving, e.g. `worker-00002-abc`. */
  revision: string;
}

/** Raised by {@link ServingBackend.deploy} when a revision cannot become ready. */
export class DeployError extends Error {
  constructor(
    message: string,
    /** A Google condition reason, e.g. `CONTAINER_MISSING` or `HEALTH_CHECK_CONTAINER_ERROR`. */
    readonly reason: string,
  ) {
    super(message);
    this.name = "DeployError";
  }
}

/** The Admin API emulator's view of the serving plane. */
export interface ServingBackend {
  /**
   * Makes `service` (already validated, with its new `generation`) serve a new revision. Resolves
   * when the revision is ready (the image maps to a command; min instances, if any, are listening);
   * rejects with a {@link DeployError} otherwise. Calling it again for the same service rolls it to a
   * new revision; the URL stays the same.
   */
  deploy(service: RunService): Promise<Deployment>;
  /** Stops every instance of the service and releases its URL. Idempotent. */
  remove(serviceName: string): Promise<void>;
}

/** A Cloud Logging LogEntry as JSON (v2 REST shape). */
export type LogEntry = Record<string, any> & {
  logName: string;
  resource: { type: string; labels: Record<string, string> };
  timestamp?: string;
  receiveTimestamp?: string;
  severity?: string;
  insertId?: string;
  labels?: Record<string, string>;
  textPayload?: string;
  jsonPayload?: Record<string, unknown>;
};

/** Where the serving plane sends instance output; the Logging emulator implements it. */
export interface LogSink {
  /** Accepts entries as Cloud Run's agent would: no quota, visible after the ingestion delay. */
  ingest(entries: LogEntry[]): void;
}

/** Looks up the current IAM policy of a service by full name; the Admin API emulator implements it. */
export type PolicyLookup = (serviceName: string) => IamPolicy | undefined;
