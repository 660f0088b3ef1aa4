/**
 * @module
 * The serving plane: what runs a deployed service. Each service gets a stable loopback URL; each
 * deploy rolls it to a new revision whose instances are local processes (an image maps to a command,
 * since no container engine runs here), with their output turned into Cloud Logging entries.
 */
import { randomBytes } from "node:crypto";
import { DeployError, type Deployment, type LogSink, type PolicyLookup, type RunService, type ServingBackend } from "../contracts.ts";
import { lineToEntry } from "../logging/index.ts";
import { checkInvoker, type IdTokenVerifier } from "./auth.ts";
import { instanceArgv, revisionConfig, type RevisionConfig } from "./config.ts";
import { startFrontEnd, type FrontEnd } from "./front-end.ts";
import { Instance } from "./instance.ts";
import { InstancePool } from "./pool.ts";

/** Options of the serving plane; timings default to Cloud Run's. */
export interface ServingPlaneOptions {
  projectId: string;
  projectNumber: string;
  region: string;
  /** Container image → the local command (argv) its instances run. */
  images: Record<string, string[]>;
  logs: LogSink;
  policyOf: PolicyLookup;
  verifyIdToken: IdTokenVerifier;
  /** Starts a metadata server for an instance; resolves to its HOST:PORT. */
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
  /** Delay added before each instance starts (a fault switch). */
  coldStartDelayMs?: number;
}

/** The serving plane's defaults: Cloud Run's documented values. */
export const SERVING_DEFAULTS = {
  idleTimeoutMs: 15 * 60_000,
  shutdownGraceMs: 10_000,
  startupTimeoutMs: 240_000,
  queueTimeoutMs: 10_000,
  coldStartDelayMs: 0,
} as const;

/** What tests can see of an instance. */
export interface InstanceInfo {
  id: string;
  pid: number | undefined;
  service: string;
  revision: string;
  state: Instance["state"];
  inFlight: number;
  port: number;
}

interface ServiceRuntime {
  frontEnd: FrontEnd;
  pool: InstancePool | undefined;
  revisions: number;
  /** Earlier revisions' pools, draining. */
  retired: Set<InstancePool>;
}

/** Runs deployed services as local processes behind per-service loopback URLs. */
export class ServingPlane implements ServingBackend {
  readonly #options: ServingPlaneOptions;
  readonly #images: Map<string, string[]>;
  readonly #services = new Map<string, ServiceRuntime>();
  readonly #timings: { -readonly [K in keyof typeof SERVING_DEFAULTS]: number };
  #affinityBroken = false;

  constructor(options: ServingPlaneOptions) {
    this.#options = options;
    this.#images = new Map(Object.entries(options.images));
    this.#timings = {
      idleTimeoutMs: options.idleTimeoutMs ?? SERVING_DEFAULTS.idleTimeoutMs,
      shutdownGraceMs: options.shutdownGraceMs ?? SERVING_DEFAULTS.shutdownGraceMs,
      startupTimeoutMs: options.startupTimeoutMs ?? SERVING_DEFAULTS.startupTimeoutMs,
      queueTimeoutMs: options.queueTimeoutMs ?? SERVING_DEFAULTS.queueTimeoutMs,
      coldStartDelayMs: options.coldStartDelayMs ?? SERVING_DEFAULTS.coldStartDelayMs,
    };
  }

  /** Maps a container image to the local command its instances run. */
  mapImage(image: string, argv: string[]): void {
    if (argv.length === 0) throw new Error(`image ${image}: the command is empty`);
    this.#images.set(image, [...argv]);
  }

  async deploy(service: RunService): Promise<Deployment> {
    const config = revisionConfig(service);
    const mapped = this.#images.get(config.image);
    if (!mapped) {
      throw new DeployError(`Image '${config.image}' not found: map it to a local command (--image ${config.image}=COMMAND).`, "CONTAINER_MISSING");
    }
    const runtime = await this.#runtimeOf(config.serviceName);
    runtime.revisions++;
    const revision = String(service.latestCreatedRevision ?? "").split("/").pop() || `${config.serviceId}-${String(runtime.revisions).padStart(5, "0")}-${randomBytes(2).toString("hex").slice(0, 3)}`;
    const pool: InstancePool = new InstancePool({
      config,
      newInstance: (): Instance => this.#newInstance(config, revision, mapped, () => pool),
      idleTimeoutMs: this.#timings.idleTimeoutMs,
      queueTimeoutMs: this.#timings.queueTimeoutMs,
      onError: (message) => this.#systemLog(config, revision, message),
    });
    try {
      // Like Cloud Run, a deploy starts an instance to check the container serves, even with no minimum.
      await pool.warm(Math.max(1, config.minInstances));
    } catch (err) {
      await pool.close();
      throw new DeployError(`Revision '${revision}' is not ready and cannot serve traffic. ${(err as Error).message}`, "HEALTH_CHECK_CONTAINER_ERROR");
    }
    const previous = runtime.pool;
    runtime.pool = pool;
    if (previous) {
      runtime.retired.add(previous);
      previous.drain();
    }
    return { uri: runtime.frontEnd.url, revision };
  }

  async remove(serviceName: string): Promise<void> {
    const runtime = this.#services.get(serviceName);
    if (!runtime) return;
    this.#services.delete(serviceName);
    await runtime.frontEnd.close();
    await Promise.all([runtime.pool, ...runtime.retired].map((p) => p?.close()));
  }

  /** Removes every service; resolves when all instances are gone. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.#services.keys()].map((name) => this.remove(name)));
  }

  // Introspection and fault switches.

  /** The instances of a service (or of every service), in start order. */
  instances(serviceName?: string): InstanceInfo[] {
    const out: InstanceInfo[] = [];
    for (const [name, runtime] of this.#services) {
      if (serviceName !== undefined && name !== serviceName) continue;
      for (const pool of [...runtime.retired, runtime.pool]) {
        for (const i of pool?.instances ?? []) {
          out.push({ id: i.id, pid: i.pid, service: name, revision: i.revision, state: i.state, inFlight: i.inFlight, port: i.port });
        }
      }
    }
    return out;
  }

  /** Kills an instance's process at once, as a crash would. */
  killInstance(instanceId: string): void {
    this.#instance(instanceId).kill();
  }

  /** Destroys every connection through the front end to an instance, leaving the instance running. */
  dropConnections(instanceId: string): void {
    this.#instance(instanceId).dropConnections();
  }

  /** While broken, affinity cookies are ignored (as after a scale-in or an overload). */
  breakAffinity(broken = true): void {
    this.#affinityBroken = broken;
  }

  /** Adds a delay before each new instance starts (a slow cold start). */
  setColdStartDelay(ms: number): void {
    this.#timings.coldStartDelayMs = ms;
  }

  #instance(instanceId: string): Instance {
    for (const runtime of this.#services.values()) {
      for (const pool of [runtime.pool, ...runtime.retired]) {
        const found = pool?.instances.find((i) => i.id === instanceId);
        if (found) return found;
      }
    }
    throw new Error(`no instance ${instanceId}`);
  }

  async #runtimeOf(serviceName: string): Promise<ServiceRuntime> {
    const existing = this.#services.get(serviceName);
    if (existing) return existing;
    const runtime: ServiceRuntime = { frontEnd: undefined as unknown as FrontEnd, pool: undefined, revisions: 0, retired: new Set() };
    const projectInvokers = this.#options.projectInvokers ?? [`${this.#options.projectNumber}-compute@developer.gserviceaccount.com`];
    runtime.frontEnd = await startFrontEnd({
      pool: () => runtime.pool,
      authorize: (headers) =>
        checkInvoker(headers, {
          config: runtime.pool!.config,
          serviceUrl: runtime.frontEnd.url,
          policy: this.#options.policyOf(serviceName),
          verify: this.#options.verifyIdToken,
          projectInvokers,
        }),
      affinity: () => (runtime.pool?.config.sessionAffinity ?? false) && !this.#affinityBroken,
      ingressNone: () => runtime.pool?.config.ingressNone ?? false,
      timeoutMs: () => runtime.pool?.config.timeoutMs ?? SERVING_DEFAULTS.startupTimeoutMs,
    });
    this.#services.set(serviceName, runtime);
    return runtime;
  }

  #newInstance(config: RevisionConfig, revision: string, mapped: string[], pool: () => InstancePool): Instance {
    const resourceLabels = {
      project_id: this.#options.projectId,
      service_name: config.serviceId,
      revision_name: revision,
      configuration_name: config.serviceId,
      location: this.#options.region,
    };
    const instance: Instance = new Instance({
      argv: instanceArgv(mapped, config),
      env: { ...config.env, K_SERVICE: config.serviceId, K_REVISION: revision, K_CONFIGURATION: config.serviceId, GOOGLE_CLOUD_PROJECT: this.#options.projectId },
      revision,
      onLine: (line, stream) => this.#options.logs.ingest([lineToEntry(line, { projectId: this.#options.projectId, stream, resourceLabels, instanceId: instance.id })]),
      onExit: (exited) => {
        pool().instanceExited(exited);
        for (const runtime of this.#services.values()) for (const p of runtime.retired) if (p.instances.length === 0) runtime.retired.delete(p);
      },
      startMetadataServer: (instanceId) => this.#options.startMetadataServer({ instanceId, serviceName: config.serviceName }),
      startupTimeoutMs: this.#timings.startupTimeoutMs,
      shutdownGraceMs: this.#timings.shutdownGraceMs,
      coldStartDelayMs: this.#timings.coldStartDelayMs,
    });
    return instance;
  }

  /** Writes a line to the service's system log, as Cloud Run's `varlog/system` does. */
  #systemLog(config: RevisionConfig, revision: string, message: string): void {
    this.#options.logs.ingest([
      {
        logName: `projects/${this.#options.projectId}/logs/run.googleapis.com%2Fvarlog%2Fsystem`,
        resource: {
          type: "cloud_run_revision",
          labels: { project_id: this.#options.projectId, service_name: config.serviceId, revision_name: revision, configuration_name: config.serviceId, location: this.#options.region },
        },
        timestamp: new Date().toISOString(),
        severity: "ERROR",
        textPayload: message,
      },
    ]);
  }
}
