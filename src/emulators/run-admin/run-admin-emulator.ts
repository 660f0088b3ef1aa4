/**
 * @module
 * The Cloud Run Admin API v2 emulator: services, their long-running operations and IAM policies over
 * Google's REST JSON surface, so the official `@google-cloud/run` client (`v2.ServicesClient` with
 * `fallback: true`) works against it unchanged. Ready services are handed to a {@link ServingBackend},
 * which runs them; the serving plane asks {@link RunAdminEmulator.policyOf} who may invoke them.
 *
 * Requests are not authenticated: any bearer token, or none, is accepted, and the caller is recorded
 * as `creator` / `lastModifier` through {@link RunAdminEmulatorOptions.callerOf}. With `permissions`
 * set, deploys are checked for `iam.serviceAccounts.actAs` on the template's service account.
 *
 * IAM policy changes reach the serving plane ({@link RunAdminEmulator.policyOf}) only after the
 * propagation delay, as on Google (see `iam-propagation.ts`); `getIamPolicy` returns them at once.
 */
import type { Hono } from "hono";
import type { PolicyLookup, ServingBackend } from "../contracts.ts";
import { createAdminApp } from "./app.ts";
import { DeployPermissions, type DeployPermissionsOptions } from "./deploy-permissions.ts";
import { EMPTY_POLICY_ETAG, IamPolicies } from "./iam-policies.ts";
import { IAM_PROPAGATION_DEFAULT_MS, PropagatingPolicies } from "./iam-propagation.ts";
import { OperationStore } from "./operations.ts";
import { ProtoJson } from "./proto-json.ts";
import { runSchema } from "./proto-schema.ts";
import { Rollouts } from "./rollout.ts";
import { defaultServiceAccount } from "./service-defaults.ts";
import { ServiceManager } from "./service-manager.ts";

/** Options for {@link RunAdminEmulator}. */
export interface RunAdminEmulatorOptions {
  projectId: string;
  /** Used for the default service account of revisions. Default `"123456789012"`. */
  projectNumber?: string;
  /** Where ready services are deployed. */
  serving: ServingBackend;
  /** Extra time an operation stays not-done before it resolves, for tests of polling. Default 0. */
  operationDelayMs?: number;
  /**
   * The email a request's `Authorization` header (if any) speaks for; `undefined` falls back to the
   * project's default compute service account. Default: always the fallback.
   */
  callerOf?: (authorization: string | undefined) => string | undefined;
  /**
   * How long a change to a service's IAM policy takes to reach the serving plane. Default 120 000 ms
   * (Google: typically 2 minutes, up to 7 or longer).
   */
  iamPropagationDelayMs?: number;
  /**
   * Turns on permission checks of deploys: creating or updating a service whose template names a
   * service account needs `iam.serviceAccounts.actAs` on it, granted here. Default: no checks.
   */
  permissions?: DeployPermissionsOptions;
}

/** Defaults of {@link RunAdminEmulatorOptions}. */
export const RUN_ADMIN_DEFAULTS = { projectNumber: "123456789012", operationDelayMs: 0, iamPropagationDelayMs: IAM_PROPAGATION_DEFAULT_MS } as const;

/** An in-memory Cloud Run Admin API v2; serve {@link app} with `serveApp`. */
export class RunAdminEmulator {
  readonly projectId: string;
  readonly projectNumber: string;
  /** The REST API, under `/v2/`. */
  readonly app: Hono;
  /**
   * The current IAM policy of a live service, by full name (`projects/P/locations/L/services/S`);
   * `undefined` if there is no such service. Returns a copy.
   */
  readonly policyOf: PolicyLookup;
  /** The deploy permission checks, when turned on (`permissions`); grant more with `allowActAs`. */
  readonly permissions: DeployPermissions | undefined;
  readonly #propagation: PropagatingPolicies;
  readonly #serving: ServingBackend;
  readonly #operations = new OperationStore();
  readonly #services: ServiceManager;
  readonly #rollouts: Rollouts;
  #closing: Promise<void> | undefined;

  constructor(options: RunAdminEmulatorOptions) {
    this.projectId = options.projectId;
    this.projectNumber = options.projectNumber ?? RUN_ADMIN_DEFAULTS.projectNumber;
    this.#serving = options.serving;
    const json = new ProtoJson(runSchema());
    this.#propagation = new PropagatingPolicies(options.iamPropagationDelayMs ?? RUN_ADMIN_DEFAULTS.iamPropagationDelayMs);
    const iam = new IamPolicies(this.#propagation);
    this.permissions = options.permissions ? new DeployPermissions(options.permissions) : undefined;
    this.#rollouts = new Rollouts({
      serving: options.serving,
      operations: this.#operations,
      operationDelayMs: options.operationDelayMs ?? RUN_ADMIN_DEFAULTS.operationDelayMs,
    });
    this.#services = new ServiceManager({
      projectNumber: this.projectNumber,
      json,
      operations: this.#operations,
      iam,
      rollouts: this.#rollouts,
      permissions: this.permissions,
    });
    const fallbackCaller = defaultServiceAccount(this.projectNumber);
    const callerOf = options.callerOf ?? (() => undefined);
    const emulator = this;
    this.app = createAdminApp({
      json,
      services: this.#services,
      operations: this.#operations,
      iam,
      callerOf: (authorization) => callerOf(authorization) ?? fallbackCaller,
      get closed() {
        return emulator.#closing !== undefined;
      },
    });
    this.policyOf = (serviceName) =>
      this.#services.records.find(serviceName) ? (this.#propagation.enforced(serviceName) ?? { version: 1, etag: EMPTY_POLICY_ETAG }) : undefined;
  }

  /** Delay of IAM policy changes made from now on (see {@link RunAdminEmulatorOptions.iamPropagationDelayMs}). */
  get iamPropagationDelayMs(): number {
    return this.#propagation.delayMs;
  }

  set iamPropagationDelayMs(ms: number) {
    this.#propagation.delayMs = ms;
  }

  /** Whether a change to `serviceName`'s IAM policy is still on its way to the serving plane. */
  iamChangePending(serviceName: string): boolean {
    return this.#propagation.pending(serviceName);
  }

  /** Makes every IAM policy change made so far reach the serving plane at once (a switch for tests). */
  propagateIamNow(): void {
    this.#propagation.propagateNow();
  }

  /**
   * Stops taking requests, ends pending waits and delays, lets serving-plane work in flight finish, then
   * removes every service from the serving backend. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#operations.close();
      const records = this.#services.records.all();
      await this.#rollouts.close(records);
      const live = records.filter((record) => !record.deleted);
      await Promise.all(live.map((record) => this.#serving.remove(record.service.name).catch(() => undefined)));
    })();
    return this.#closing;
  }
}
