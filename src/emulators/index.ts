// bigmachine: driver-only
/**
 * @module
 * The emulators for the Google APIs the Cloud Run System uses, composed: the Cloud Run Admin API,
 * Cloud Logging, the serving plane that runs "containers" as local processes, and the metadata server
 * that gives the driver (and every instance) a service account identity. {@link startEmulators} starts
 * them all on loopback; `bigmachine emulators` runs the same thing from a shell.
 *
 * Defaults follow Google, including its unkind parts: IAM changes take two minutes to apply, a slot
 * outlives its client for a few seconds, log entries become readable after random delays and pages
 * can come back short. Tests shorten what they must, explicitly.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LoggingOptions } from "@google-cloud/logging";
import type { v2 } from "@google-cloud/run";
import { OAuth2Client } from "google-auth-library";
import { Hono } from "hono";
import { Chaos, type ChaosOptions } from "./chaos.ts";
import { createCertsApp, createMetadataApp, PEM_CERTS_PATH, TokenIssuer } from "./identity/index.ts";
import { LoggingEmulator } from "./logging/index.ts";
import { seededRandom } from "./random.ts";
import { RunAdminEmulator, type DeployPermissionsOptions } from "./run-admin/index.ts";
import { serveApp, type ServedApp } from "./serve.ts";
import { ServingPlane, type ImageMapping } from "./serving/index.ts";

export * from "./contracts.ts";
export * from "./identity/index.ts";
export { serveApp } from "./serve.ts";
export type { ServedApp, ServeOptions } from "./serve.ts";
export { DeployPermissions, IAM_PROPAGATION_DEFAULT_MS, RunAdminEmulator } from "./run-admin/index.ts";
export type { DeployPermissionsOptions, RunAdminEmulatorOptions } from "./run-admin/index.ts";
export { LoggingEmulator, lineToEntry } from "./logging/index.ts";
export type { LoggingEmulatorOptions } from "./logging/index.ts";
export { DEFAULT_HOST_ENV, ServingPlane, SERVING_DEFAULTS } from "./serving/index.ts";
export type { ImageMapping, InstanceInfo, ServingPlaneOptions } from "./serving/index.ts";
export { Chaos, CHAOS_DEFAULTS } from "./chaos.ts";
export type { ChaosOptions } from "./chaos.ts";

/** Options for {@link startEmulators}; every field is optional. */
export interface EmulatorsOptions {
  /** Defaults to `GOOGLE_CLOUD_PROJECT`, else `bigmachine-emulated`. */
  projectId?: string;
  /** Defaults to a stable 12-digit number derived from the project id. */
  projectNumber?: string;
  /** Defaults to `us-central1`. */
  region?: string;
  /**
   * Container image to what stands in for it: the command (argv), e.g. `{"worker:1": ["node", "w.js"]}`,
   * or `{command, env}` where `env` is the image's own environment (its Dockerfile's `ENV` lines).
   */
  images?: Record<string, ImageMapping>;
  /** The mapping (as in `images`) for an image `images` does not name, or undefined if the image is unknown. */
  resolveImage?: (image: string) => ImageMapping | undefined;
  /** Ports to listen on; 0 or absent picks a free one. */
  ports?: { run?: number; logging?: number; metadata?: number };
  /**
   * The driver's identity: the account the driver-facing metadata server speaks for and the Admin API
   * clients of {@link Emulators.runClientOptions} act as. Default the project's compute account (with
   * `driverCredentials: "user"`, `developer@example.com`).
   */
  serviceAccountEmail?: string;
  /**
   * How the driver authenticates. `"metadata"` (the default): `env()` names the driver-facing metadata
   * server, which mints ID tokens. `"user"`: the driver has only user credentials, as after
   * `gcloud auth application-default login`: `env()` names an `authorized_user` credentials file and no
   * metadata server, so ID tokens cannot be minted (google-auth-library says so before any request).
   */
  driverCredentials?: "metadata" | "user";
  /** IAM: how long service policy changes take to apply, and whether the driver may invoke every service. */
  iam?: {
    /** Delay before a change to a service's IAM policy is enforced. Default 120 000 (Google: typically 2 min, up to 7). */
    propagationDelayMs?: number;
    /**
     * Whether the driver holds a project-level invoker role (as a project owner, or the default compute
     * account, does) and so invokes every service at once. Default true; false makes it depend on a
     * service-level grant, which applies only after the propagation delay.
     */
    driverIsProjectInvoker?: boolean;
  };
  /**
   * `operationDelayMs`: extra time operations stay not done. `permissions`: turn on deploy permission
   * checks (`iam.serviceAccounts.actAs` on the template's service account), granted by `actAs`.
   */
  admin?: { operationDelayMs?: number; permissions?: DeployPermissionsOptions };
  /**
   * Logging: `ingestionDelayMs` (default 1000), `ingestionJitterMs` (a further random delay per agent
   * entry, default 2000), `shortPageRate` (share of list pages cut short with a token, default 0.05),
   * `readQuotaPerMinute` (default 60).
   */
  logging?: { ingestionDelayMs?: number; ingestionJitterMs?: number; shortPageRate?: number; readQuotaPerMinute?: number };
  /** The serving plane's settings; see {@link ServingPlaneOptions} for each and its default. */
  serving?: {
    idleTimeoutMs?: number;
    shutdownGraceMs?: number;
    startupTimeoutMs?: number;
    queueTimeoutMs?: number;
    maxInstancesQueueTimeoutMs?: number;
    slotHoldMs?: number;
    coldStartDelayMs?: number;
    hostEnv?: readonly string[];
    enforceMemoryLimits?: boolean;
  };
  /** Random faults from a seed (idle reclaims, WebSocket drops, cold-start delays); off when absent. */
  chaos?: ChaosOptions;
}

/** What `startEmulators` turns on in the Logging emulator unless told otherwise (the class alone has them off). */
export const EMULATORS_LOGGING_DEFAULTS = { ingestionJitterMs: 2_000, shortPageRate: 0.05 } as const;

/** The driver's identity when it has only user credentials. */
export const DEFAULT_USER_EMAIL = "developer@example.com";

/** Running emulators; see {@link startEmulators}. */
export interface Emulators {
  projectId: string;
  projectNumber: string;
  region: string;
  /** The Cloud Run Admin API v2. */
  runEndpoint: ServedApp;
  /** The Cloud Logging API v2. */
  loggingEndpoint: ServedApp;
  /** The driver-facing metadata server; it also serves the token-verification certs. */
  metadataEndpoint: ServedApp;
  /** `{kid: PEM}` certs of {@link issuer}, for `OAuth2Client`'s `oauth2FederatedSignonPemCertsUrl`. */
  certsUrl: string;
  /** The driver's identity (see {@link EmulatorsOptions.serviceAccountEmail}). */
  serviceAccountEmail: string;
  /** The chaos in force, if any: its seed and rates (`describe()` prints them). */
  chaos: Chaos | undefined;
  issuer: TokenIssuer;
  admin: RunAdminEmulator;
  logging: LoggingEmulator;
  serving: ServingPlane;
  /**
   * The environment a process needs to use them: the variables the CLI prints. With
   * `driverCredentials: "user"` it names a credentials file instead of `GCE_METADATA_HOST`, which the
   * process must then not have set.
   */
  env(): Record<string, string>;
  /** Options for `new v2.ServicesClient(...)` of `@google-cloud/run`: REST to the emulator, local auth. */
  runClientOptions(): RunClientOptions;
  /** Options for `new Logging(...)` of `@google-cloud/logging`: REST to the emulator, local auth. */
  loggingClientOptions(): LoggingClientOptions;
  /** Stops every instance, server and timer. Idempotent. */
  close(): Promise<void>;
}

/**
 * What the official client libraries need to talk plain HTTP to an emulator without reaching Google:
 * `{projectId, fallback: true, apiEndpoint: "127.0.0.1", port, protocol: "http", authClient}`.
 */
interface LocalClientOptions {
  projectId: string;
  fallback: true;
  apiEndpoint: string;
  port: number;
  protocol: "http";
  authClient: OAuth2Client;
}

/** {@link LocalClientOptions}, typed as `v2.ServicesClient`'s constructor takes them. */
export type RunClientOptions = NonNullable<ConstructorParameters<typeof v2.ServicesClient>[0]>;
/** {@link LocalClientOptions}, typed as `Logging`'s constructor takes them (its type omits the transport fields). */
export type LoggingClientOptions = LoggingOptions & { fallback: true; port: number; protocol: "http" };

/** A stable 12-digit project number for a project id, as Google would assign one. */
export function projectNumberFor(projectId: string): string {
  const digest = BigInt(`0x${createHash("sha256").update(projectId).digest("hex")}`);
  return `${1 + Number(digest % 9n)}${(digest % 10n ** 11n).toString().padStart(11, "0")}`;
}

/** The default service account of a project, the one Cloud Run runs services as unless told otherwise. */
export function computeServiceAccount(projectNumber: string): string {
  return `${projectNumber}-compute@developer.gserviceaccount.com`;
}

/**
 * An `OAuth2Client` holding an access token from `issuer`; when it expires the client mints another
 * locally, so it never reaches Google.
 */
function localAuthClient(issuer: TokenIssuer, email: string): OAuth2Client {
  const client = new OAuth2Client();
  const mint = () => {
    const { access_token, expires_in } = issuer.accessToken(email);
    return { access_token, expiry_date: Date.now() + expires_in * 1000 };
  };
  client.setCredentials(mint());
  client.refreshHandler = async () => mint();
  return client;
}

/**
 * Identities that invoke every service of the project (project Owners, Editors, Invokers): the compute
 * account (Editor in a default project) and, unless told otherwise, the driver. With
 * `driverIsProjectInvoker` false the driver is left out, even when it is the compute account.
 */
function projectInvokers(driver: string, projectNumber: string, driverIsProjectInvoker: boolean): string[] {
  const invokers = new Set([computeServiceAccount(projectNumber), driver]);
  if (!driverIsProjectInvoker) invokers.delete(driver);
  return [...invokers];
}

/**
 * Writes application default credentials of the kind `gcloud auth application-default login` leaves:
 * an `authorized_user` file. Its secrets are made up; nothing may use them to reach Google, and
 * google-auth-library refuses to mint ID tokens from them before it makes any request.
 */
async function writeUserCredentials(dir: string, projectId: string): Promise<string> {
  const file = join(dir, "application_default_credentials.json");
  const credentials = {
    type: "authorized_user",
    client_id: "bigmachine-emulated.apps.googleusercontent.com",
    client_secret: "emulated-client-secret",
    refresh_token: "emulated-refresh-token",
    quota_project_id: projectId,
  };
  await writeFile(file, `${JSON.stringify(credentials, null, 2)}
`, { mode: 0o600 });
  return file;
}

/** One hono app answering the certs paths and, for everything else, the metadata server. */
function driverIdentityApp(metadata: Hono, certs: Hono): Hono {
  const app = new Hono();
  app.all("/oauth2/*", (c) => certs.fetch(c.req.raw));
  app.all("*", (c) => metadata.fetch(c.req.raw));
  return app;
}

/**
 * Starts every emulator on loopback and wires them together: the Admin API deploys through the serving
 * plane, the serving plane checks ID tokens with the shared issuer and IAM policies with the Admin API,
 * writes instance output to the Logging emulator, and gives each instance its own metadata server.
 */
export async function startEmulators(options: EmulatorsOptions = {}): Promise<Emulators> {
  const projectId = options.projectId ?? process.env.GOOGLE_CLOUD_PROJECT ?? "bigmachine-emulated";
  const projectNumber = options.projectNumber ?? projectNumberFor(projectId);
  const region = options.region ?? "us-central1";
  const userCredentials = options.driverCredentials === "user";
  const serviceAccountEmail = options.serviceAccountEmail ?? (userCredentials ? DEFAULT_USER_EMAIL : computeServiceAccount(projectNumber));
  const issuer = await TokenIssuer.create();
  const instanceMetadataServers = new Set<ServedApp>();
  const started: ServedApp[] = [];
  const chaos = options.chaos ? new Chaos(options.chaos) : undefined;

  const logging = new LoggingEmulator({
    projectId,
    ...EMULATORS_LOGGING_DEFAULTS,
    ...(chaos ? { random: seededRandom(chaos.seed, "logging") } : {}),
    ...options.logging,
  });
  let admin: RunAdminEmulator | undefined;
  const serving = new ServingPlane({
    projectId,
    projectNumber,
    region,
    images: options.images ?? {},
    resolveImage: options.resolveImage,
    logs: logging,
    policyOf: (serviceName) => admin?.policyOf(serviceName),
    verifyIdToken: (token) => issuer.verifyIdToken(token),
    projectInvokers: projectInvokers(serviceAccountEmail, projectNumber, options.iam?.driverIsProjectInvoker ?? true),
    chaos,
    startMetadataServer: async ({ instanceId, serviceName }) => {
      const app = createMetadataApp({
        projectId,
        projectNumber,
        region,
        serviceAccountEmail: (await runtimeAccountOf(serviceName)) ?? computeServiceAccount(projectNumber),
        issuer,
        instanceId,
      });
      const served = await serveApp(app);
      instanceMetadataServers.add(served);
      return {
        hostPort: served.hostPort,
        close: async () => {
          instanceMetadataServers.delete(served);
          await served.close();
        },
      };
    },
    ...options.serving,
  });
  admin = new RunAdminEmulator({
    projectId,
    projectNumber,
    serving,
    iamPropagationDelayMs: options.iam?.propagationDelayMs,
    // Requests from the clients of runClientOptions() carry an emulator access token naming the caller.
    callerOf: (authorization) => {
      const token = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1];
      const verified = token === undefined ? undefined : issuer.verifyAccessToken(token);
      return verified?.ok ? verified.email : undefined;
    },
    ...options.admin,
  });

  // The account a service's instances run as: its template's, read through the Admin API itself.
  const runtimeAccountOf = async (serviceName: string): Promise<string | undefined> => {
    const res = await admin!.app.request(`/v2/${serviceName}`);
    if (!res.ok) return undefined;
    const service = (await res.json()) as { template?: { serviceAccount?: string } };
    return service.template?.serviceAccount || undefined;
  };

  let closing: Promise<void> | undefined;
  let credentialsDir: string | undefined;
  const close = () =>
    (closing ??= (async () => {
      // The Admin API removes its services from the serving plane as it closes; then the plane itself.
      await admin?.close();
      await serving.close();
      await Promise.all([...started, ...instanceMetadataServers].map((s) => s.close()));
      if (credentialsDir) await rm(credentialsDir, { recursive: true, force: true });
    })());

  try {
    const metadataApp = createMetadataApp({ projectId, projectNumber, region, serviceAccountEmail, issuer });
    const metadataEndpoint = await serveApp(driverIdentityApp(metadataApp, createCertsApp(issuer)), {
      port: options.ports?.metadata,
    });
    started.push(metadataEndpoint);
    const runEndpoint = await serveApp(admin.app, { port: options.ports?.run });
    started.push(runEndpoint);
    const loggingEndpoint = await serveApp(logging.app, { port: options.ports?.logging });
    started.push(loggingEndpoint);
    let userCredentialsFile: string | undefined;
    if (userCredentials) {
      credentialsDir = await mkdtemp(join(tmpdir(), "bigmachine-emulated-adc-"));
      userCredentialsFile = await writeUserCredentials(credentialsDir, projectId);
    }

    const authClient = localAuthClient(issuer, serviceAccountEmail);
    // Each client library declares the auth client type of its own copy of google-auth-library; an
    // OAuth2Client from ours has the same run-time surface, hence the casts below.
    const clientOptions = (endpoint: ServedApp): LocalClientOptions => ({
      projectId,
      fallback: true,
      apiEndpoint: "127.0.0.1",
      port: endpoint.port,
      protocol: "http",
      authClient,
    });
    return {
      projectId,
      projectNumber,
      region,
      runEndpoint,
      loggingEndpoint,
      metadataEndpoint,
      certsUrl: `${metadataEndpoint.url}${PEM_CERTS_PATH}`,
      serviceAccountEmail,
      chaos,
      issuer,
      admin,
      logging,
      serving,
      env: () => ({
        GOOGLE_CLOUD_PROJECT: projectId,
        CLOUD_RUN_EMULATOR_HOST: runEndpoint.hostPort,
        CLOUD_LOGGING_EMULATOR_HOST: loggingEndpoint.hostPort,
        ...(userCredentialsFile
          ? // Only user credentials, and no metadata server to fall back on (nor a probe for Google's).
            { GOOGLE_APPLICATION_CREDENTIALS: userCredentialsFile, METADATA_SERVER_DETECTION: "none" }
          : { GCE_METADATA_HOST: metadataEndpoint.hostPort }),
        CLOUD_RUN_REGION: region,
      }),
      runClientOptions: () => clientOptions(runEndpoint) as unknown as RunClientOptions,
      loggingClientOptions: () => clientOptions(loggingEndpoint) as unknown as LoggingClientOptions,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
