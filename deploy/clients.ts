/**
 * @module
 * The Google clients of the deploy commands: the Cloud Run System's own (`defaultClients`: Application
 * Default Credentials, the emulators when `CLOUD_RUN_EMULATOR_HOST` is set), so that a command acts as
 * the driver would and knows the driver's identity to grant. One difference: `defaultClients` refuses
 * credentials whose client cannot mint the ID tokens a driver needs (a workload identity federation
 * credential in CI, for one); these commands never use ID tokens, so they go on with the Admin API
 * alone, the caller's identity then unknown.
 */
import { GoogleAuth, type AuthClient } from "google-auth-library";
import { apiClients, defaultClients } from "../src/systems/cloudrun/clients.ts";
import type { ResolvedCloudRunSettings } from "../src/systems/cloudrun/config.ts";
import type { ServicesClient } from "../src/systems/cloudrun/service-deployer.ts";

/** What the deploy commands use of the Google clients. */
export interface AdminClients {
  /** The Admin API v2 client. */
  services: ServicesClient;
  /** The caller's account (an email), when its credentials name one. */
  account?: string;
  /** Releases the clients' connections. */
  close?(): Promise<void>;
}

/** The clients for `settings` from Application Default Credentials; see the module comment. */
export async function adminClients(settings: ResolvedCloudRunSettings, env: Record<string, string | undefined>): Promise<AdminClients> {
  try {
    const { services, account, close } = await defaultClients(settings, env);
    return { services, account, close };
  } catch (err) {
    const client = await new GoogleAuth({ projectId: settings.project, scopes: ["https://www.googleapis.com/auth/cloud-platform"] })
      .getClient()
      .catch(() => undefined);
    // No credentials at all, or credentials that failed for another reason: the System's error stands.
    if (!client || typeof (client as { fetchIdToken?: unknown }).fetchIdToken === "function") throw err;
    const { services, close } = apiClients(settings, client as AuthClient, env);
    return { services, close };
  }
}

export { memberOf } from "../src/systems/cloudrun/clients.ts";
