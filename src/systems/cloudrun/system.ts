// bigmachine: driver-only
/**
 * @module
 * The Cloud Run System, as a driver runs it: each machine is one warm instance of one Cloud Run service
 * running bigmachine's generic worker, held by an attach tunnel (see docs/cloudrun.md).
 *
 * `start(n)` bundles the driver's program (once), makes sure the service exists with the worker's
 * settings (`ensureService`), and starts n fresh attaches; each machine comes back at once and becomes
 * running when its attach is made and its services are installed. Every call rides the machine's
 * resumable link, which outlives its tunnels (`machine-session.ts`). Output is read back through Cloud
 * Logging with one poller per service (`log-tail.ts`). This module is the only one of the System that
 * loads the Google clients; machines use `machine-system.ts`.
 */
import { randomBytes } from "node:crypto";
import { IdTokenClient } from "google-auth-library";
import {
  errorOf,
  KEEPALIVE_ENV,
  keepaliveEnvOf,
  Machine,
  SUPERVISOR,
  toBigmachineError,
  type BigmachineError,
  type HttpClient,
  type KeepaliveConfig,
  type Link,
  type Listener,
  type LogLine,
  type SessionInfo,
  type System,
} from "../../core.ts";
import { bundleProgram } from "../../ship/bundle.ts";
import { foreignEntryOwner } from "../../ship/foreign-entry.ts";
import type { ProgramToShip } from "./attach-client.ts";
import { sessionProof } from "./attach-protocol.ts";
import { defaultClients, memberOf, type CloudRunClients } from "./clients.ts";
import { processorsOf, resolveCloudRunSettings, serviceOptionsOf, type CloudRunServiceSettings, type ResolvedCloudRunSettings } from "./config.ts";
import { cloudRunTimings, type CloudRunTimings } from "./keepalive.ts";
import { listEntriesWith } from "./list-entries.ts";
import { ServiceLogTail, type ServiceLogTailOptions } from "./log-tail.ts";
import { MachineSession, type MachineSessionContext } from "./machine-session.ts";
import { ensureService, grantInvoker, INVOKER_ROLE, type DeployedService } from "./service-deployer.ts";

/** Options of the Cloud Run System: the service's settings (see `config.ts`) and the System's own. */
export interface CloudRunSystemOptions extends CloudRunServiceSettings {
  /** The Google clients to use; default ones from Application Default Credentials (`defaultClients`). */
  clients?: CloudRunClients | (() => Promise<CloudRunClients>);
  /** The program machines run: its entry module; default the driver's own (`process.argv[1]`). */
  programEntry?: string;
  /**
   * Overrides of the keepalive rule, which otherwise follows the service's request timeout; default
   * the `BIGMACHINE_KEEPALIVE_*_MS` variables that are set.
   */
  keepalive?: Partial<KeepaliveConfig>;
  /** Overrides when tunnels are replaced; default from the request timeout (see `keepalive.ts`). */
  tunnelRotateAfterMs?: number;
  /** How long `start` keeps retrying an attach no instance takes; default 10 minutes. */
  startTimeoutMs?: number;
  /** How long after granting itself the invoker role the driver retries 403s; default 7 minutes (IAM's bound). */
  iamPropagationMs?: number;
  /** Settings of the log tail (tests shorten the poll interval). */
  logTail?: Partial<Omit<ServiceLogTailOptions, "list" | "projectId" | "serviceName" | "since">>;
  /** Also told of every event the System records. */
  onEvent?: (type: string, fields: Record<string, unknown>) => void;
  /** The attach client, for tests that inject refusals. @internal */
  attachClient?: Pick<MachineSessionContext, "attach" | "resume">;
}

/** Defaults of {@link CloudRunSystemOptions}. */
export const CLOUDRUN_SYSTEM_DEFAULTS = {
  // A cold instance pulls the image and starts the worker; at max instances attaches wait for one to free.
  startTimeoutMs: 10 * 60_000,
  // Google: a policy change "typically takes 2 minutes" and "can take 7 minutes or more".
  iamPropagationMs: 7 * 60_000,
} as const;

/** A System whose machines are instances of one Cloud Run service running the worker. */
export class CloudRunSystem implements System {
  readonly name = "cloudrun";
  readonly #options: CloudRunSystemOptions;
  readonly #settings: ResolvedCloudRunSettings;
  readonly #sessions = new Map<Machine, MachineSession>();
  readonly #sessionsByAddr = new Map<string, MachineSession>();
  readonly #tag = randomBytes(3).toString("hex");
  readonly #since = new Date();
  #secret: string | undefined;
  #clients: Promise<CloudRunClients> | undefined;
  #service: DeployedService | undefined;
  #program: Promise<ProgramToShip> | undefined;
  #tail: ServiceLogTail | undefined;
  #idTokens: IdTokenClient | undefined;
  #tokenRequest: { audience: string; token: Promise<string> } | undefined;
  #granted: Promise<number> | undefined;
  #started = 0;
  #client: HttpClient | undefined;
  #shutDown = false;

  /** Throws kind `invalid` (fatal) for a missing or malformed setting, before anything is created. */
  constructor(options: CloudRunSystemOptions = {}) {
    this.#options = options;
    this.#settings = resolveCloudRunSettings(options);
  }

  /** The settings in use. */
  get settings(): ResolvedCloudRunSettings {
    return this.#settings;
  }

  /** Takes the session secret and makes the clients, failing early on credentials that cannot work. */
  async init(session: SessionInfo): Promise<void> {
    if (session.role !== "driver") throw errorOf("precondition", "the Cloud Run driver side runs in drivers only", { severity: "fatal" });
    if (this.#secret !== undefined && this.#secret !== session.secret) {
      throw errorOf("precondition", "this Cloud Run system already belongs to another session", { severity: "fatal" });
    }
    this.#secret = session.secret;
    await this.#clientsReady();
  }

  main(): Promise<never> {
    return Promise.reject(errorOf("precondition", "a Cloud Run machine runs the machine side of the system, not the driver's", { severity: "fatal" }));
  }

  /** Reaches this driver's machines over their resumable links. */
  httpClient(): HttpClient {
    return (this.#client ??= {
      fetch: async () => {
        throw errorOf("not-supported", "Cloud Run machines take no plain requests; call them over their links (machine.call)", { severity: "fatal" });
      },
      connect: (addr, options) => this.#connect(addr, options?.signal),
    });
  }

  listenAndServe(): Promise<Listener> {
    return Promise.reject(errorOf("not-supported", "a Cloud Run driver serves its machines over their tunnels, not on an address", { severity: "fatal" }));
  }

  /**
   * Makes sure the service is up, then starts `n` fresh attaches and returns their machines at once;
   * each becomes running when its attach is made. Rejects with the deployment's error (kind
   * `unauthorized`, `invalid`, `unavailable`, ...) or kind `canceled` when `signal` aborts.
   */
  async start(n: number, options: { signal?: AbortSignal } = {}): Promise<Machine[]> {
    const { signal } = options;
    const secret = this.#requireSecret();
    const checkCanceled = () => {
      if (signal?.aborted) throw errorOf("canceled", "starting Cloud Run machines was canceled", { severity: "fatal", cause: signal.reason });
      if (this.#shutDown) throw errorOf("precondition", "the Cloud Run system is shut down", { severity: "fatal" });
    };
    checkCanceled();
    const [clients, program] = await Promise.all([this.#clientsReady(), (this.#program ??= this.#bundle())]);
    checkCanceled();
    const alive = [...this.#sessions.values()].filter((s) => s.link.state !== "closed").length;
    const service = await ensureService(clients.services, serviceOptionsOf(this.#settings, alive + n));
    this.#service = service;
    checkCanceled();
    const timings = this.#timings();
    const context: MachineSessionContext = {
      serviceUrl: service.uri,
      credentials: async () => ({ idToken: await this.#idToken(service.uri), secret, proof: sessionProof(service.deploymentKey, secret) }),
      forbidden: (err) => this.#forbidden(err),
      keepaliveTimeoutMs: timings.keepalive.timeoutMs,
      tunnelRotateAfterMs: timings.tunnelRotateAfterMs,
      event: (type, fields) => this.event(type, fields),
      ...this.#options.attachClient,
    };
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? CLOUDRUN_SYSTEM_DEFAULTS.startTimeoutMs);
    const machines: Machine[] = [];
    for (let i = 0; i < n; i++) {
      const addr = `${this.#settings.service}/${this.#tag}-${++this.#started}`;
      const session = new MachineSession(addr, context, { program, args: process.argv.slice(2), env: keepaliveEnvOf(timings.keepalive), deadline });
      const machine = new Machine({ addr, maxprocs: this.maxprocs(), exited: session.ended });
      this.#sessions.set(machine, session);
      this.#sessionsByAddr.set(addr, session);
      signal?.addEventListener("abort", () => session.close("starting the machine was canceled"), { once: true });
      machines.push(machine);
    }
    return machines;
  }

  exit(code: number): never {
    process.exit(code);
  }

  /** Ends every machine's link (their workers stop them and exit), stops the log tail, and closes the clients. */
  async shutdown(): Promise<void> {
    if (this.#shutDown) return;
    this.#shutDown = true;
    for (const session of this.#sessions.values()) session.close("the driver shut down");
    this.#tail?.close();
    const clients = await this.#clients?.catch(() => undefined);
    await clients?.close?.().catch(() => {});
  }

  /** The processors of an instance: the service's CPU limit. */
  maxprocs(): number {
    return processorsOf(this.#settings.cpu);
  }

  /** The keepalive rule applied to the service's actual request timeout (the configured one before the service is read). */
  keepaliveConfig(): KeepaliveConfig {
    return this.#timings().keepalive;
  }

  /** Follows the machine's output through Cloud Logging (one poller for the whole service). */
  async *tail(machine: Machine, signal?: AbortSignal): AsyncIterable<LogLine> {
    const session = this.#sessionOf(machine);
    await session.ready.catch(() => {});
    const instanceId = session.instanceId;
    if (instanceId === undefined) return;
    const clients = await this.#clientsReady();
    this.#tail ??= new ServiceLogTail({
      list: listEntriesWith(clients.logging),
      projectId: this.#settings.project,
      serviceName: this.#settings.service,
      location: this.#settings.region,
      since: this.#since,
      onRetry: (error, retryInMs) => this.event("cloudrun:logRetry", { error: error.message, retryInMs }),
      ...this.#options.logTail,
    });
    yield* this.#tail.follow(instanceId, signal);
  }

  /** Reads a file of the machine's instance, through its supervisor (over its link). */
  async *read(machine: Machine, filename: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const chunks = await machine.call<AsyncIterable<Uint8Array>>(`${SUPERVISOR}.readFile`, filename, { signal });
    yield* chunks;
  }

  /** Records an event: to `onEvent`, and to standard error as JSON when `BIGMACHINE_DEBUG` is set. */
  event(type: string, fields: Record<string, unknown>): void {
    this.#options.onEvent?.(type, fields);
    const debug = process.env.BIGMACHINE_DEBUG;
    if (debug && debug !== "0") process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type, ...fields })}\n`);
  }

  /** Writes one line about the lost machine to standard error. */
  keepaliveFailed(machine: Machine, err: Error): void {
    this.event("cloudrun:keepaliveFailed", { machine: machine.addr, error: err.message });
    process.stderr.write(`${machine.addr}: bigmachine: keepalives failed; stopping the machine: ${err.message}\n`);
  }

  // For tools and tests.

  /** Cloud Run's id of the instance holding `machine` (it labels the instance's logs), once attached. */
  instanceIdOf(machine: Machine): string | undefined {
    return this.#sessionOf(machine).instanceId;
  }

  /** The machine's session: its link, ids and resume statistics. */
  sessionOf(machine: Machine): MachineSession {
    return this.#sessionOf(machine);
  }

  /** The service machines run in, once `start` has made sure of it. */
  get service(): DeployedService | undefined {
    return this.#service;
  }

  #timings(): CloudRunTimings {
    const overrides = this.#options.keepalive ?? keepaliveOverridesFromEnv(process.env);
    const timings = cloudRunTimings(this.#service?.requestTimeoutMs ?? this.#settings.requestTimeoutMs, overrides);
    const rotate = this.#options.tunnelRotateAfterMs;
    return rotate === undefined ? timings : { ...timings, tunnelRotateAfterMs: rotate };
  }

  #clientsReady(): Promise<CloudRunClients> {
    const given = this.#options.clients;
    this.#clients ??= typeof given === "function" ? given() : given !== undefined ? Promise.resolve(given) : defaultClients(this.#settings);
    return this.#clients;
  }

  async #bundle(): Promise<ProgramToShip> {
    const entry = this.#options.programEntry ?? process.argv[1];
    const owner = this.#options.programEntry === undefined && entry ? foreignEntryOwner(entry) : undefined;
    if (owner !== undefined) {
      throw errorOf(
        "invalid",
        `Cloud Run machines run the driver's own program, and this process's entry script (${entry}) belongs to ${owner}, a test runner or another tool: ` +
          `each machine would run ${owner}. Name the program machines run: new CloudRunSystem({ programEntry: "path/to/program.ts" })`,
        { severity: "fatal" },
      );
    }
    // With its source map, so that a machine's stack traces name the driver's files and lines.
    const bundle = await bundleProgram({ entry, sourceMap: true });
    return { digest: bundle.digest, code: bundle.code };
  }

  /**
   * An ID token for `audience`, cached by google-auth-library until it nears expiry. Concurrent asks
   * share one request (a burst of attaches would otherwise ask the metadata server once each). A
   * refusal (401, 403) is fatal; any other failure (a timeout, a busy metadata server) is temporary,
   * so the attach that needed the token is retried.
   */
  #idToken(audience: string): Promise<string> {
    const pending = this.#tokenRequest;
    if (pending !== undefined && pending.audience === audience) return pending.token;
    const token = this.#mintIdToken(audience).finally(() => {
      if (this.#tokenRequest?.token === token) this.#tokenRequest = undefined;
    });
    this.#tokenRequest = { audience, token };
    return token;
  }

  async #mintIdToken(audience: string): Promise<string> {
    const clients = await this.#clientsReady();
    if (this.#idTokens?.targetAudience !== audience) this.#idTokens = new IdTokenClient({ targetAudience: audience, idTokenProvider: clients.idTokens as never });
    let headers: Headers;
    try {
      headers = await this.#idTokens.getRequestHeaders();
    } catch (err) {
      const status = Number((err as { status?: unknown; response?: { status?: unknown } })?.response?.status ?? (err as { status?: unknown })?.status);
      const refused = status === 401 || status === 403;
      throw errorOf(refused ? "unauthorized" : "unavailable", `could not mint an ID token for ${audience}: ${toBigmachineError(err).message}`, {
        severity: refused ? "fatal" : "temporary",
        cause: err,
      });
    }
    return (headers.get("authorization") ?? "").replace(/^Bearer /i, "");
  }

  /**
   * The front end refused an attach with 403: the driver's identity may not invoke the service. Grant
   * it the invoker role once (when it may), then retry 403s while the grant propagates; after that,
   * or when it cannot grant, fail naming the role.
   */
  async #forbidden(err: BigmachineError): Promise<void> {
    const clients = await this.#clientsReady();
    const account = clients.account;
    const fix = `grant it with: gcloud run services add-iam-policy-binding ${this.#settings.service} --region=${this.#settings.region} --member=${memberOf(account ?? "ACCOUNT")} --role=${INVOKER_ROLE} (or \`bigmachine grant\`)`;
    if (account === undefined) throw errorOf("unauthorized", `${err.message}; the driver's identity lacks ${INVOKER_ROLE} on the service: ${fix}`, { severity: "fatal", cause: err });
    this.#granted ??= grantInvoker(clients.services, this.#settings.serviceName, memberOf(account)).then(() => {
      this.event("cloudrun:grantedInvoker", { account });
      return Date.now();
    });
    let grantedAt: number;
    try {
      grantedAt = await this.#granted;
    } catch (grantErr) {
      throw errorOf("unauthorized", `${account} may not invoke ${this.#settings.service} and could not grant itself ${INVOKER_ROLE} (${toBigmachineError(grantErr).message}); ${fix}`, {
        severity: "fatal",
        cause: err,
      });
    }
    const window = this.#options.iamPropagationMs ?? CLOUDRUN_SYSTEM_DEFAULTS.iamPropagationMs;
    if (Date.now() - grantedAt > window) {
      throw errorOf("unauthorized", `${account} still may not invoke ${this.#settings.service} ${window} ms after it was granted ${INVOKER_ROLE}: ${err.message}`, { severity: "fatal", cause: err });
    }
  }

  async #connect(addr: string, signal?: AbortSignal): Promise<Link> {
    const session = this.#sessionsByAddr.get(addr);
    if (session === undefined) {
      throw errorOf("not-supported", `${addr} is not a machine this driver started; Cloud Run machines are reached only through their own driver`, { severity: "fatal" });
    }
    if (signal?.aborted) throw errorOf("canceled", `connect ${addr}: canceled`, { cause: signal.reason });
    const onAbort = () => session.close("the machine was stopped");
    signal?.addEventListener("abort", onAbort, { once: true });
    await session.ready;
    if (session.link.state === "closed") throw await session.ended;
    return session.link;
  }

  #sessionOf(machine: Machine): MachineSession {
    const session = this.#sessions.get(machine) ?? this.#sessionsByAddr.get(machine.addr);
    if (!session) throw errorOf("not-exist", `machine ${machine.addr} was not started by this Cloud Run system`, { severity: "fatal" });
    return session;
  }

  #requireSecret(): string {
    if (this.#secret === undefined) throw errorOf("precondition", "the Cloud Run system was not initialized by a session", { severity: "fatal" });
    return this.#secret;
  }
}

/** Keepalive timings set in the driver's environment ({@link KEEPALIVE_ENV}), each only if set. */
function keepaliveOverridesFromEnv(env: Record<string, string | undefined>): Partial<KeepaliveConfig> {
  const out: Partial<KeepaliveConfig> = {};
  for (const [key, name] of Object.entries(KEEPALIVE_ENV) as [keyof KeepaliveConfig, string][]) {
    const value = Number(env[name]);
    if (env[name] !== undefined && env[name] !== "") {
      if (!Number.isFinite(value) || value <= 0) throw errorOf("invalid", `${name} must be a positive number of milliseconds, got ${JSON.stringify(env[name])}`, { severity: "fatal" });
      out[key] = value;
    }
  }
  return out;
}

