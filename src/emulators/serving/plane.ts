/**
 * @module
 * The serving plane: what runs a deployed service. Each service gets a stable loopback URL; each
 * deploy rolls it to a new revision whose instances are local processes (an image maps to a command,
 * since no container engine runs here), with their output turned into Cloud Logging entries.
 *
 * An instance runs `[...mapped image command, ...container.command, ...container.args]`: the mapped
 * command plays the image's entrypoint, and the container's `command` and `args` reach it as arguments.
 * A mapping may carry the image's own environment too (see `images.ts`).
 */
import type { Chaos } from "../chaos.ts";
import { DeployError, type Deployment, type LogEntry, type LogSink, type PolicyLookup, type RunService, type ServingBackend } from "../contracts.ts";
import { checkInvoker, type IdTokenVerifier } from "./auth.ts";
import { instanceArgv, revisionConfig, revisionNameOf } from "./config.ts";
import { startFrontEnd, type FrontEnd } from "./front-end.ts";
import { resolveImageMapping, type ImageMapping } from "./images.ts";
import { createInstance } from "./instance-factory.ts";
import type { Instance, InstanceExit, InstanceState } from "./instance.ts";
import { InstancePool, PoolClosedError, type Revision } from "./pool.ts";

/** Options of the serving plane; timings default to Cloud Run's ({@link SERVING_DEFAULTS}). */
export interface ServingPlaneOptions {
  projectId: string;
  projectNumber: string;
  region: string;
  /**
   * Container image → the local command (argv) its instances run, or `{command, env}` with the image's
   * own environment; also see {@link ServingPlane.mapImage}.
   */
  images: Record<string, ImageMapping>;
  /**
   * Consulted for an image the `images` map does not name: its mapping (as in `images`), or
   * undefined when the image is unknown. Lets a product map a family of image references (any tag of
   * its worker image, say) without the emulator knowing about it.
   */
  resolveImage?: (image: string) => ImageMapping | undefined;
  /**
   * Names of host variables passed through to every instance, below the image's and container's
   * environment; default {@link DEFAULT_HOST_ENV}. Nothing else of this host's environment reaches an
   * instance, as nothing of the deployer's reaches a Cloud Run container.
   */
  hostEnv?: readonly string[];
  /**
   * Kill an instance whose processes' resident memory plus the files it wrote pass its container's
   * memory limit (default 512 MiB), as Cloud Run does. Default false: this host's processes are not
   * sized like a container's.
   */
  enforceMemoryLimits?: boolean;
  /** Random faults: idle reclaims, WebSocket drops, cold-start delays (see `chaos.ts`). */
  chaos?: Chaos;
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
  /**
   * The cold-start wait: a request an instance is starting for gets 429 after this. Default Cloud
   * Run's rule, max(3.5 × the average startup of the service's instances, 10 s).
   */
  queueTimeoutMs?: number;
  /** A request that arrives with every instance the revision may have busy gets 429 after this; Cloud Run: 60 s. */
  maxInstancesQueueTimeoutMs?: number;
  /** How long a request whose client left keeps its slot on the instance; default 3 s (see {@link ServingPlane.setSlotHold}). */
  slotHoldMs?: number;
  /** Delay added before each instance starts (a fault switch; see {@link ServingPlane.setColdStartDelay}). */
  coldStartDelayMs?: number;
}

/** The serving plane's default timings: Cloud Run's documented values (the slot hold is an estimate). */
export const SERVING_DEFAULTS = {
  idleTimeoutMs: 15 * 60_000,
  shutdownGraceMs: 10_000,
  startupTimeoutMs: 240_000,
  maxInstancesQueueTimeoutMs: 60_000,
  slotHoldMs: 3_000,
  coldStartDelayMs: 0,
} as const;

/** Host variables every instance gets by default: how to find programs, and how this host's Node runs them. */
export const DEFAULT_HOST_ENV: readonly string[] = ["PATH", "NODE_OPTIONS"];

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
  /** Requests (and WebSockets) it is serving now, including lingering ones. */
  inFlight: number;
  /** Requests whose client has left but which still hold their slot (see {@link ServingPlaneOptions.slotHoldMs}). */
  lingering: number;
  port: number;
  /** How long its start was delayed (the cold-start switch plus any chaos). */
  startDelayMs: number;
  /** Its own file system (holding its `HOME` and `TMPDIR`), once it has one; removed when it stops. */
  fileSystem?: string;
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
  readonly #images: Map<string, ImageMapping>;
  /** Services by full name, from the first deploy (while the URL is being allocated too). */
  readonly #services = new Map<string, Promise<ServiceRuntime>>();
  /** The same services once their URL is up, for synchronous introspection. */
  readonly #ready = new Map<string, ServiceRuntime>();
  readonly #timings: Timings;
  readonly #queueTimeoutMs: number | undefined;
  readonly #hostEnv: readonly string[];
  readonly #projectInvokers: string[];
  #affinityBrokenUntil = 0;
  #closed = false;

  constructor(options: ServingPlaneOptions) {
    this.#options = options;
    this.#images = new Map();
    for (const [image, mapping] of Object.entries(options.images)) this.mapImage(image, mapping);
    this.#timings = { ...SERVING_DEFAULTS };
    for (const key of Object.keys(SERVING_DEFAULTS) as (keyof Timings)[]) {
      if (options[key] !== undefined) this.#timings[key] = options[key];
    }
    this.#queueTimeoutMs = options.queueTimeoutMs;
    this.#hostEnv = options.hostEnv ?? DEFAULT_HOST_ENV;
    this.#projectInvokers = options.projectInvokers ?? [`${options.projectNumber}-compute@developer.gserviceaccount.com`];
  }

  /** Maps a container image to the local command (argv) its instances run, or `{command, env}`; later deploys use it. */
  mapImage(image: string, mapping: ImageMapping): void {
    const { command, env } = resolveImageMapping(image, mapping);
    this.#images.set(image, { command, env });
  }

  /** See {@link ServingBackend.deploy}. Rejects with a {@link DeployError} (`CONTAINER_MISSING`, `HEALTH_CHECK_CONTAINER_ERROR`). */
  async deploy(service: RunService): Promise<Deployment> {
    if (this.#closed) throw new DeployError("The serving plane is shut down.", "INTERNAL");
    const config = revisionConfig(service);
    const mapping = this.#images.get(config.image) ?? this.#options.resolveImage?.(config.image);
    if (!mapping) {
      throw new DeployError(
        `Image '${config.image}' not found. Map it to a local command (images option or mapImage) to deploy it.`,
        "CONTAINER_MISSING",
      );
    }
    let mapped;
    try {
      mapped = resolveImageMapping(config.image, mapping);
    } catch (err) {
      throw new DeployError(`Image '${config.image}' cannot be run: ${(err as Error).message}`, "CONTAINER_MISSING");
    }
    const runtime = await this.#runtimeOf(config.serviceName);
    const rollout = runtime.rollouts.then(async (): Promise<Deployment> => {
      runtime.revisions++;
      const name = revisionNameOf(service, config.serviceId, runtime.revisions);
      const revision: Revision = { name, config, argv: instanceArgv(mapped.command, config), imageEnv: mapped.env };
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

  /** How long requests whose client leaves from now on keep their slot (see {@link ServingPlaneOptions.slotHoldMs}). */
  setSlotHold(ms: number): void {
    this.#timings.slotHoldMs = ms;
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
        lingering: i.lingering,
        port: i.port,
        startDelayMs: i.startDelayMs,
        ...(i.files ? { fileSystem: i.files.root } : {}),
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
    const chaos = this.#options.chaos;
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
          startupTimeoutMs: this.#timings.startupTimeoutMs,
          shutdownGraceMs: this.#timings.shutdownGraceMs,
          coldStartDelayMs: this.#timings.coldStartDelayMs + (chaos?.coldStartDelayMs() ?? 0),
          hostEnv: this.#passedHostEnv(),
          enforceMemoryLimit: this.#options.enforceMemoryLimits ?? false,
        }),
      idleTimeoutMs: () => this.#timings.idleTimeoutMs,
      queueTimeoutMs: () => this.#queueTimeoutMs,
      maxInstancesQueueTimeoutMs: () => this.#timings.maxInstancesQueueTimeoutMs,
      randomReclaimDelayMs: chaos ? () => chaos.idleReclaimDelayMs() : undefined,
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
      slotHoldMs: () => this.#timings.slotHoldMs,
      webSocketDropDelayMs: () => chaos?.webSocketDropDelayMs(),
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

  /** The host variables named in `hostEnv` that are set here. */
  #passedHostEnv(): Record<string, string> {
    const passed: Record<string, string> = {};
    for (const name of this.#hostEnv) {
      const value = process.env[name];
      if (value !== undefined) passed[name] = value;
    }
    return passed;
  }

  #ingest(entry: LogEntry): void {
    try {
      this.#options.logs.ingest([entry]);
    } catch {
      // A failing log sink must not take instances down; Cloud Run's agent drops what it cannot send.
    }
  }
}
