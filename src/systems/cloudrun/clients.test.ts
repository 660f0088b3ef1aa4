/**
 * The driver's credentials, checked before anything is created: user credentials alone cannot mint the
 * ID tokens Cloud Run needs, and the error names the fixes; an account to impersonate is used for every
 * call and as the identity granted the invoker role. No call reaches Google.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Impersonated } from "google-auth-library";
import { afterEach, describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import { defaultClients, memberOf } from "./clients.ts";
import { resolveCloudRunSettings } from "./config.ts";

// Nothing listens there: no Admin API or Logging call is made by these tests.
const env = { CLOUD_RUN_EMULATOR_HOST: "127.0.0.1:9", CLOUD_LOGGING_EMULATOR_HOST: "127.0.0.1:9" };

describe("defaultClients", () => {
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  let dir: string | undefined;

  afterEach(async () => {
    process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function credentialsFile(content: object): Promise<void> {
    dir = await mkdtemp(join(tmpdir(), "bigmachine-adc-"));
    await writeFile(join(dir, "credentials.json"), JSON.stringify(content));
    process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, "credentials.json");
  }

  const userLogin = { type: "authorized_user", client_id: "id.apps.googleusercontent.com", client_secret: "secret", refresh_token: "refresh" };

  it("refuses user credentials alone, naming impersonation and service-account keys as fixes", async () => {
    await credentialsFile(userLogin);
    const settings = resolveCloudRunSettings({ project: "my-project" }, {});
    const err = await defaultClients(settings, env).then(() => undefined, (e: unknown) => e as Error);
    expect(isKind(err, "unauthorized")).toBe(true);
    expect(err?.message).toMatch(/cannot mint the ID tokens Cloud Run requires: user credentials cannot/);
    expect(err?.message).toContain("GOOGLE_IMPERSONATE_SERVICE_ACCOUNT");
    expect(err?.message).toContain("GOOGLE_APPLICATION_CREDENTIALS");
  });

  it("impersonates a service account on top of user credentials, and speaks for that account", async () => {
    await credentialsFile(userLogin);
    const account = "driver@my-project.iam.gserviceaccount.com";
    const settings = resolveCloudRunSettings({ project: "my-project" }, { GOOGLE_IMPERSONATE_SERVICE_ACCOUNT: account });
    const clients = await defaultClients(settings, env);
    try {
      expect(clients.idTokens).toBeInstanceOf(Impersonated);
      expect(clients.account).toBe(account);
    } finally {
      await clients.close?.();
    }
  });

  it("fails with kind unauthorized when there are no credentials at all", async () => {
    // The test setup names a credentials file that does not exist, and no metadata server.
    const settings = resolveCloudRunSettings({ project: "my-project" }, {});
    await expect(defaultClients(settings, env)).rejects.toSatisfy((e: unknown) => isKind(e, "unauthorized"));
  });
});

describe("memberOf", () => {
  it("names service accounts and users as IAM members", () => {
    expect(memberOf("d@p.iam.gserviceaccount.com")).toBe("serviceAccount:d@p.iam.gserviceaccount.com");
    expect(memberOf("me@example.com")).toBe("user:me@example.com");
    expect(memberOf("group:team@example.com")).toBe("group:team@example.com");
  });
});
