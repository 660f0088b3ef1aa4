/**
 * The deploy commands' clients: the System's own when the credentials can, the Admin API alone for
 * credentials that cannot mint ID tokens (which these commands never need), and the System's error
 * when there are no credentials; and the IAM member an account is granted as.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { adminClients, memberOf } from "../../deploy/clients.ts";
import { isKind } from "../../src/core.ts";
import { resolveCloudRunSettings } from "../../src/systems/cloudrun/config.ts";

const settings = resolveCloudRunSettings({ project: "my-project" }, {});
// Nothing listens there: no call is made.
const env = { CLOUD_RUN_EMULATOR_HOST: "127.0.0.1:9", CLOUD_LOGGING_EMULATOR_HOST: "127.0.0.1:9" };

describe("adminClients", () => {
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  let dir: string | undefined;

  afterEach(async () => {
    process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("goes on with the Admin API alone, no account known, for credentials that cannot mint ID tokens", async () => {
    // A workload identity federation credential: its client has no fetchIdToken. Made without a call to Google.
    dir = await mkdtemp(join(tmpdir(), "bigmachine-adc-"));
    await writeFile(join(dir, "subject-token"), "token");
    await writeFile(
      join(dir, "credentials.json"),
      JSON.stringify({
        type: "external_account",
        audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/provider",
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_url: "https://sts.googleapis.com/v1/token",
        credential_source: { file: join(dir, "subject-token") },
      }),
    );
    process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, "credentials.json");
    const clients = await adminClients(settings, env);
    try {
      expect(typeof clients.services.getService).toBe("function");
      expect(clients.account).toBeUndefined();
    } finally {
      await clients.close?.();
    }
  });

  it("keeps the System's error when there are no credentials at all", async () => {
    // The test setup names a credentials file that does not exist, and no metadata server.
    await expect(adminClients(settings, env)).rejects.toSatisfy((e: unknown) => isKind(e, "unauthorized"));
  });
});

describe("memberOf", () => {
  it("grants service accounts as serviceAccount:, others as user:, and takes members as they are", () => {
    expect(memberOf("driver@my-project.iam.gserviceaccount.com")).toBe("serviceAccount:driver@my-project.iam.gserviceaccount.com");
    expect(memberOf("123-compute@developer.gserviceaccount.com")).toBe("serviceAccount:123-compute@developer.gserviceaccount.com");
    expect(memberOf("me@example.com")).toBe("user:me@example.com");
    expect(memberOf("group:team@example.com")).toBe("group:team@example.com");
  });
});
