// bigmachine: driver-only
/**
 * @module
 * The emulators for the Google APIs the Cloud Run System uses, composed: the Cloud Run Admin API,
 * Cloud Logging, the serving plane that runs "containers" as local processes, and the metadata server
 * that gives the driver (and every instance) a service account identity. {@link startEmulators} starts
 * them all on loopback; `bigmachine emulators` runs the same thing from a shell.
 */
import { createHash } from "node:crypto";
import type { LoggingOptions } from "@google-cloud/logging";
import type { v2 } from "@google-cloud/run";
import { OAuth2Client } from "google-auth-library";
import { Hono } from "hono";
import { createCertsApp, createMetadataApp, PEM_CERTS_PATH, TokenIssuer } from "./identity/index.ts";
import { LoggingEmulator } from "./logging/index.ts";
import { RunAdminEmulator } from "./run-admin/index.ts";
import { serveApp, type ServedApp } from "./serve.ts";
import { ServingPlane } from "./serving/index.ts";

export * from "./contracts.ts";
export * from "./identity/index.ts";
export { serveApp } from "./serve.ts";
export type { ServedApp, ServeOptions } from "./serve.ts";
export { RunAdminEmulator } from "./run-admin/index.ts";
export type { RunAdminEmulatorOptions } from "./run-admin/index.ts";
export { LoggingEmulator, lineToEntry } from "./logging/index.ts";
export type { LoggingEmulatorOptions } from "./logging/index.ts";
export { ServingPlane } from "./serving/index.ts";
export type { InstanceInfo, ServingPlaneOptions } from "./serving/index.ts";

/** Options for {@link startEmulators}; every field is optional. */
export interface EmulatorsOptions {
  /** Defaults to `GOOGLE_CLOUD_PROJECT`, else `bigmachine-emulated`. */
  projectId?: string;
  /** Defaults to a stable 12-digit number derived from the project id. */
  projectNumber?: string;
  /** Defaults to `us-central1`. */
  region?: string;
  /** Container image to the command (argv) that stands in for it, e.g. `{"worker:1": ["node", "w.js"]}`. */
  images?: Record<string, string[]>;
  /** The command for an image `images` does not name, or undefined if the image is unknown. */
  resolveImage?: (image: string) => string[] | undefined;
  /** Ports to listen on; 0 or absent picks a free one. */
  ports?: { run?: number; logging?: number; metadata?: number };
  /** The account the driver-facing metadata server speaks for; defaults to the project's compute account. */
  serviceAccountEmail?: string;
  admin?: { operationDelayMs?: number };
  logging?: { ingestionDelayMs?: number; readQuotaPerMinute?: number };
  serving?: {
    idleTimeoutMs?: number;
    shutdownGraceMs?: number;
    startupTimeoutMs?: number;
    queueTimeoutMs?: number;
    coldStartDelayMs?: number;
  };
}

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
  /** The account the driver-facing metadata server mints tokens for. */
  serviceAccountEmail: string;
  issuer: TokenIssuer;
  admin: RunAdminEmulator;
  logging: LoggingEmulator;
  serving: ServingPlane;
  /** The environment a process needs to use them: the variables the CLI prints. */
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
  const serviceAccountEmail = options.serviceAccountEmail ?? computeServiceAccount(projectNumber);
  const issuer = await TokenIssuer.create();
  const instanceMetadataServers = new Set<ServedApp>();
  const started: ServedApp[] = [];

  const logging = new LoggingEmulator({ projectId, ...options.logging });
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
    // Project Owners and Editors may invoke every service: the driver's account, and the compute
    // account, which holds Editor in a default project.
    projectInvokers: [...new Set([serviceAccountEmail, computeServiceAccount(projectNumber)])],
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
  const close = () =>
    (closing ??= (async () => {
      // The Admin API removes its services from the serving plane as it closes; then the plane itself.
      await admin?.close();
      await serving.close();
      await Promise.all([...started, ...instanceMetadataServers].map((s) => s.close()));
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
      issuer,
      admin,
      logging,
      serving,
      env: () => ({
        GOOGLE_CLOUD_PROJECT: projectId,
        CLOUD_RUN_EMULATOR_HOST: runEndpoint.hostPort,
        CLOUD_LOGGING_EMULATOR_HOST: loggingEndpoint.hostPort,
        GCE_METADATA_HOST: metadataEndpoint.hostPort,
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
