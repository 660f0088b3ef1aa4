/**
 * @module
 * The Google clients a Cloud Run driver uses, made from the credentials it really has: the Admin API
 * client (deploy, read the service), the Logging client (tail), and a source of ID tokens for the
 * service URL (every attach and resume carries one).
 *
 * Credentials are google-auth-library's Application Default Credentials: a service-account key named
 * by `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application-default login, or the metadata server (on
 * Cloud Run, GCE, GKE, and the emulators' `GCE_METADATA_HOST`); with an account to impersonate, an
 * impersonated client on top. User credentials alone cannot mint ID tokens: that is detected here,
 * before any call, and named with its fixes.
 *
 * `CLOUD_RUN_EMULATOR_HOST` and `CLOUD_LOGGING_EMULATOR_HOST` (printed by `bigmachine emulators`)
 * point the clients at the emulators over plain HTTP; otherwise they reach Google.
 */
import { Logging } from "@google-cloud/logging";
import { v2 } from "@google-cloud/run";
import { GoogleAuth, Impersonated, UserRefreshClient, type AuthClient } from "google-auth-library";
import { errorOf, toBigmachineError } from "../../core.ts";
import type { ResolvedCloudRunSettings } from "./config.ts";
import type { EntryLister } from "./list-entries.ts";
import type { ServicesClient } from "./service-deployer.ts";

/** The scope of every call the driver makes. */
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/** Mints Google ID tokens: what google-auth-library's `IdTokenClient` asks of a credential. */
export interface IdTokenProvider {
  fetchIdToken(audience: string): Promise<string>;
}

/** The clients a Cloud Run System uses; pass your own to point it elsewhere (tests, emulators). */
export interface CloudRunClients {
  /** The Admin API v2 client. */
  services: ServicesClient;
  /** The Logging client, for `entries:list`. */
  logging: EntryLister;
  /** ID tokens whose audience is the service URL. */
  idTokens: IdTokenProvider;
  /** The driver's identity (an email), when known: it is granted `roles/run.invoker` on services the System creates. */
  account?: string;
  /** Releases the clients' connections; called at the System's shutdown. */
  close?(): Promise<void>;
}

type Env = Record<string, string | undefined>;

/** `HOST:PORT` of an emulator variable, split; undefined when unset. */
function emulatorHost(env: Env, name: string): { host: string; port: number } | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const match = /^(.+):(\d+)$/.exec(raw);
  if (!match) throw errorOf("invalid", `${name} must be HOST:PORT, got ${JSON.stringify(raw)}`, { severity: "fatal" });
  return { host: match[1], port: Number(match[2]) };
}

/** The error for credentials that cannot mint ID tokens, naming the fixes. */
export function cannotMintIdTokens(kind: string): Error {
  return errorOf(
    "unauthorized",
    `the driver's Google credentials (${kind}) cannot mint the ID tokens Cloud Run requires: user credentials cannot. ` +
      `Use a service account: impersonate one (set GOOGLE_IMPERSONATE_SERVICE_ACCOUNT=NAME@PROJECT.iam.gserviceaccount.com, ` +
      `or the System's impersonateServiceAccount option; your user needs roles/iam.serviceAccountTokenCreator on it), ` +
      `point GOOGLE_APPLICATION_CREDENTIALS at a service-account key, or run the driver where a metadata server speaks for an account (Cloud Run, GCE, GKE)`,
    { severity: "fatal" },
  );
}

/**
 * Makes the clients from Application Default Credentials (and the emulator variables, when set).
 * Rejects with kind `unauthorized` when there are no credentials, or only ones that cannot mint ID
 * tokens; nothing has been created then.
 */
export async function defaultClients(settings: ResolvedCloudRunSettings, env: Env = process.env): Promise<CloudRunClients> {
  const auth = new GoogleAuth({ projectId: settings.project, scopes: [CLOUD_PLATFORM_SCOPE] });
  let client: AuthClient;
  try {
    client = (await auth.getClient()) as AuthClient;
  } catch (err) {
    throw errorOf("unauthorized", `no Google credentials for the Cloud Run System: ${toBigmachineError(err).message}`, { severity: "fatal", cause: err });
  }
  let account: string | undefined;
  if (settings.impersonateServiceAccount) {
    client = new Impersonated({ sourceClient: client, targetPrincipal: settings.impersonateServiceAccount, targetScopes: [CLOUD_PLATFORM_SCOPE], lifetime: 3600 });
    account = settings.impersonateServiceAccount;
  }
  const idTokens = client as unknown as Partial<IdTokenProvider>;
  // A user's refresh token yields ID tokens for gcloud's own OAuth client, not for a service URL.
  if (client instanceof UserRefreshClient) throw cannotMintIdTokens("a user's application-default login");
  if (typeof idTokens.fetchIdToken !== "function") throw cannotMintIdTokens(client.constructor.name);
  account ??= await auth.getCredentials().then((c) => c.client_email ?? undefined, () => undefined);
  return { ...apiClients(settings, client, env), idTokens: idTokens as IdTokenProvider, account };
}

/** The Admin API and Logging clients for `authClient`, on the emulators when their variables are set. */
export function apiClients(settings: Pick<ResolvedCloudRunSettings, "project">, authClient: AuthClient, env: Env = process.env): Pick<CloudRunClients, "services" | "logging" | "close"> {
  const run = emulatorHost(env, "CLOUD_RUN_EMULATOR_HOST");
  const logs = emulatorHost(env, "CLOUD_LOGGING_EMULATOR_HOST");
  // Each client library declares the auth client type of its own copy of google-auth-library; the
  // run-time surface is the same, hence the casts.
  const services = new v2.ServicesClient({
    projectId: settings.project,
    authClient: authClient as never,
    ...(run ? { fallback: true, apiEndpoint: run.host, port: run.port, protocol: "http" } : {}),
  } as ConstructorParameters<typeof v2.ServicesClient>[0]);
  const logging = new Logging({
    projectId: settings.project,
    authClient: authClient as never,
    ...(logs ? { fallback: true, apiEndpoint: logs.host, port: logs.port, protocol: "http" } : {}),
  } as ConstructorParameters<typeof Logging>[0]);
  return { services, logging, close: () => services.close() };
}

/**
 * The IAM member for an account email: `serviceAccount:EMAIL` for service accounts, else `user:EMAIL`.
 * A value already of the form `kind:identity` is returned as it is.
 */
export function memberOf(account: string): string {
  if (/^[a-zA-Z]+:\S+$/.test(account)) return account;
  return /\.gserviceaccount\.com$/.test(account) ? `serviceAccount:${account}` : `user:${account}`;
}
