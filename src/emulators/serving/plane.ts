/**
 * @module
 * The serving plane: what runs a deployed service. Each service gets a stable loopback URL; each
 * deploy rolls it to a new revision whose instances are local processes (an image maps to a command,
 * since no container engine runs here), with their output turned into Cloud Logging entries.
 *
 * An instance runs `[...mapped image command, ...container.command, ...container.args]`: the mapped
 * command plays the image's entrypoint, and the container's `command` and `args` reach it as arguments.
 */
import { DeployError, type Deployment, type LogEntry, type LogSink, type PolicyLookup, type RunService, type ServingBackend } from "../contracts.ts";
import { checkInvoker, type IdTokenVerifier } from "./auth.ts";
import { instanceArgv, revisionConfig, revisionNameOf } from "./config.ts";
import { startFrontEnd, type FrontEnd } from "./front-end.ts";
import { createInstance } from "./instance-factory.ts";
import type { Instance, InstanceExit, InstanceState } from "./instance.ts";
import { InstancePool, PoolClosedError, type Revision } from "./pool.ts";

/** Options of the serving plane; timings default to Cloud Run's ({@link SERVING_DEFAULTS}). */
export interface ServingPlaneOptions {
  projectId: string;
  projectNumber: string;
  region: string;
  /** Container image → the local command (argv) its instances run; also see {@link ServingPlane.mapImage}. */
  images: Record<string, string[]>;
  /**
   * Consulted for an image the `images` map does not name: the command its instances run, or
   * undefined when the image is unknown. Lets a product map a family of image references (any tag of
   * its worker image, say) without the emulator knowing about it.
   */
  resolveImage?: (image: string) => string[] | undefined;
  /** Receives every line instances write to stdout or stderr, as Cloud Run's logging agent would send it. */
  logs: LogSink;
  /** IAM: `allUsers` with `roles/run.invoker` makes a service public. */
  policyOf: PolicyLookup;
  /** Verifies a Google ID token's signature and expiry; returns its claims or why it is invalid. */
  verifyIdToken: IdTokenVerifier;
  /** Starts a metadata server for an instance; resolves to its HOST:PORT (`GCE_METADATA_HOST`). */
  startMetadataServer(instance: { instanceId: string; serviceName: string }): Promise<{ hostPort: string; close(): Promise<void> }>;
  /** Identities that may invoke every service (project Owners and Editors); default the compute service account. */
  projectInvokers?: string[];
  /** An idle instance above the minimum is stopped after this; Cloud Run: up to 15 min. */
  idleTimeoutMs?: number;
  /** SIGTERM to SIGKILL; Cloud Run: 10 s. */
  shutdownGraceMs?: number;
  /** An instance must listen on $PORT within this; Cloud Run: 4 min. */
  startupTimeoutMs?: number;
  /** A request no instance can take gets 429 after this; Cloud Run: max(3.5 × average startup, 10 s). */
  queueTimeoutMs?: number;
  /** Delay added before each instance starts (a fault switch; see {@link ServingPlane.setColdStartDelay}). */
  coldStartDelayMs?: number;
}

/** The serving plane's default timings: Cloud Run's documented values. */
export const SERVING_DEFAULTS = {
  idleTimeoutMs: 15 * 60_000,
  shutdownGraceMs: 10_000,
  startupTimeoutMs: 240_000,
  queueTimeoutMs: 10_000,
  coldStartDelayMs: 0,
} as const;

/** Cloud Run's default request timeout, used before any revision serves. */
const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

type Timings = { -readonly [K in keyof typeof SERVING_DEFAULTS]: number };

/** What tests can see of an instance. */
export interface InstanceInfo {
  /** The id in `labels.instanceId` of its log entries and at the metadata server's `instance/id`. */
  id: string;
  pid: number | undefined;
  /** Full service name. */
  service: string;
  revision: string;
  state: InstanceState;
  /** Requests (and WebSockets) it is serving now. */
  inFlight: number;
  port: number;
  /** How it ended, once stopped. */
  exit?: InstanceExit;
}

interface ServiceRuntime {
  frontEnd: FrontEnd;
  pool: InstancePool;
  revisions: number;
  /** Deploys of one service run one after another. */
  rollouts: Promise<unknown>;
}

/** Runs deployed services as local processes behind per-service loopback URLs. */
export class ServingPlane implements ServingBackend {
  readonly #options: ServingPlaneOptions;
  readonly #images: Map<string, string[]>;
  /** Services by full name, from the first deploy (while the URL is being allocated too). */
  readonly #services = new Map<string, Promise<ServiceRuntime>>();
  /** The same services once their URL is up, for synchronous introspection. */
  readonly #ready = new Map<string, ServiceRuntime>();
  readonly #timings: Timings;
  readonly #projectInvokers: string[];
  #affinityBrokenUntil = 0;
  #closed = false;

  constructor(options: ServingPlaneOptions) {
    this.#options = options;
    this.#images = new Map(Object.entries(options.images));
    this.#timings = { ...SERVING_DEFAULTS };
    for (const key of Object.keys(SERVING_DEFAULTS) as (keyof Timings)[]) {
      if (options[key] !== undefined) this.#timings[key] = options[key];
    }
    this.#projectInvokers = options.projectInvokers ?? [`${options.projectNumber}-compute@developer.gserviceaccount.com`];
  }

  /** Maps a container image to the local command (argv) its instances run; later deploys use it. */
  mapImage(image: string, argv: string[]): void {
    if (argv.length === 0) throw new TypeError(`image ${image}: the command is empty`);
    this.#images.set(image, [...argv]);
  }

  /** See {@link ServingBackend.deploy}. Rejects with a {@link DeployError} (`CONTAINER_MISSING`, `HEALTH_CHECK_CONTAINER_ERROR`). */
  async deploy(service: RunService): Promise<Deployment> {
    if (this.#closed) throw new DeployError("The serving plane is shut down.", "INTERNAL");
    const config = revisionConfig(service);
    const mapped = this.#images.get(config.image) ?? this.#options.resolveImage?.(config.image);
    if (!mapped) {
      throw new DeployError(
        `Image '${config.image}' not found. Map it to a local command (images option or mapImage) to deploy it.`,
        "CONTAINER_MISSING",
      );
    }
    const runtime = await this.#runtimeOf(config.serviceName);
    const rollout = runtime.rollouts.then(async (): Promise<Deployment> => {
      runtime.revisions++;
      const name = revisionNameOf(service, config.serviceId, runtime.revisions);
      const revision: Revision = { name, config, argv: instanceArgv(mapped, config) };
      try {
        // Like Cloud Run, a deploy starts an instance to check the container serves, even with no minimum.
        await runtime.pool.prepare(revision, Math.max(1, config.minInstances));
      } catch (err) {
        if (err instanceof PoolClosedError) {
          throw new DeployError(`The service was removed before revision '${name}' became ready.`, "INTERNAL");
        }
        throw new DeployError(
          `Revision '${name}' is not ready and cannot serve traffic. The user-provided container failed to start ` +
            `and listen on the port defined by the PORT environment variable within the allocated timeout: ${(err as Error).message}`,
          "HEALTH_CHECK_CONTAINER_ERROR",
        );
      }
      runtime.pool.activate(revision);
      return { uri: runtime.frontEnd.url, revision: name };
    });
    runtime.rollouts = rollout.catch(() => undefined);
    return rollout;
  }

  /** See {@link ServingBackend.remove}: stops every instance (SIGTERM, then SIGKILL) and closes the URL. */
  async remove(serviceName: string): Promise<void> {
    const pending = this.#services.get(serviceName);
    if (!pending) return;
    this.#services.delete(serviceName);
    this.#ready.delete(serviceName);
    const runtime = await pending.catch(() => undefined);
    if (!runtime) return;
    await runtime.frontEnd.close();
    await runtime.pool.close();
  }

  /** Removes every service and refuses new deploys; resolves when all instances are gone. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#services.keys()].map((name) => this.remove(name)));
  }

  // Introspection.

  /** Live instances of a service (full name or short id), or of every service, in start order. */
  instances(serviceName?: string): InstanceInfo[] {
    return this.#collect(serviceName, (pool) => pool.live());
  }

  /** Recently stopped instances (the last hundred per service), with how each ended. */
  stoppedInstances(serviceName?: string): InstanceInfo[] {
    return this.#collect(serviceName, (pool) => pool.stopped());
  }

  /** The URL of a deployed service, if any. */
  urlOf(serviceName: string): string | undefined {
    return this.#runtimes(serviceName)[0]?.[1].frontEnd.url;
  }

  // Fault switches.

  /** Kills an instance's process at once (SIGKILL), as a crash would. */
  killInstance(instanceId: string): void {
    this.#instance(instanceId).kill();
  }

  /** Destroys every connection through the front end to an instance, leaving the instance running. */
  dropConnections(instanceId: string): void {
    this.#instance(instanceId).dropConnections();
  }

  /**
   * Ignores affinity cookies, as after a scale-in or an overload: `true` (the default) until told
   * otherwise, a number for that many milliseconds, `false` to honour them again.
   */
  breakAffinity(broken: boolean | number = true): void {
    if (broken === false) this.#affinityBrokenUntil = 0;
    else this.#affinityBrokenUntil = broken === true ? Number.POSITIVE_INFINITY : Date.now() + broken;
  }

  /** Adds a delay before each new instance starts (a slow cold start); 0 removes it. */
  setColdStartDelay(ms: number): void {
    this.#timings.coldStartDelayMs = ms;
  }

  #runtimes(serviceName: string | undefined): [string, ServiceRuntime][] {
    const found: [string, ServiceRuntime][] = [];
    for (const [name, runtime] of this.#ready) {
      if (serviceName === undefined || name === serviceName || name.endsWith(`/services/${serviceName}`)) {
        found.push([name, runtime]);
      }
    }
    return found;
  }

  #collect(serviceName: string | undefined, pick: (pool: InstancePool) => Instance[]): InstanceInfo[] {
    return this.#runtimes(serviceName).flatMap(([name, runtime]) =>
      pick(runtime.pool).map((i) => ({
        id: i.id,
        pid: i.pid,
        service: name,
        revision: i.revision,
        state: i.state,
        inFlight: i.inFlight,
        port: i.port,
        ...(i.exit ? { exit: i.exit } : {}),
      })),
    );
  }

  #instance(instanceId: string): Instance {
    for (const runtime of this.#ready.values()) {
      const found = runtime.pool.live().find((i) => i.id === instanceId);
      if (found) return found;
    }
    throw new Error(`no live instance ${instanceId}`);
  }

  #runtimeOf(serviceName: string): Promise<ServiceRuntime> {
    let pending = this.#services.get(serviceName);
    if (!pending) {
      const created = this.#createRuntime(serviceName);
      this.#services.set(serviceName, created);
      created.catch(() => {
        if (this.#services.get(serviceName) === created) this.#services.delete(serviceName);
      });
      pending = created;
    }
    return pending;
  }

  async #createRuntime(serviceName: string): Promise<ServiceRuntime> {
    const pool = new InstancePool({
      createInstance: (revision, reason, onExit) =>
        createInstance({
          projectId: this.#options.projectId,
          region: this.#options.region,
          serviceName,
          revision,
          reason,
          onExit,
          ingest: (entry) => this.#ingest(entry),
          startMetadataServer: this.#options.startMetadataServer,
          ...this.#timings,
        }),
      idleTimeoutMs: () => this.#timings.idleTimeoutMs,
      queueTimeoutMs: () => this.#timings.queueTimeoutMs,
    });
    let url = "";
    const frontEnd = await startFrontEnd({
      acquire: (preferred, signal) => pool.acquire(preferred, signal),
      authorize: (headers) => {
        const current = pool.current;
        // With no revision serving, the request fails at placement (503) whoever sends it.
        if (!current) return { ok: true };
        return checkInvoker(headers, {
          config: current.config,
          serviceUrl: url,
          policy: this.#options.policyOf(serviceName),
          verify: this.#options.verifyIdToken,
          projectInvokers: this.#projectInvokers,
        });
      },
      affinity: () => {
        const enabled = pool.current?.config.sessionAffinity ?? false;
        return { enabled, honoured: enabled && Date.now() >= this.#affinityBrokenUntil };
      },
      ingressNone: () => pool.current?.config.ingressNone ?? false,
      timeoutMs: () => pool.current?.config.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
    url = frontEnd.url;
    if (this.#closed || !this.#services.has(serviceName)) {
      // Removed (or the plane closed) while the listener was starting.
      await frontEnd.close();
      throw new DeployError("The service was removed while it was being created.", "INTERNAL");
    }
    const runtime: ServiceRuntime = { frontEnd, pool, revisions: 0, rollouts: Promise.resolve() };
    this.#ready.set(serviceName, runtime);
    return runtime;
  }

  #ingest(entry: LogEntry): void {
    try {
      this.#options.logs.ingest([entry]);
    } catch {
      // A failing log sink must not take instances down; Cloud Run's agent drops what it cannot send.
    }
  }
}
