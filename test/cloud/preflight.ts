/**
 * Checks that `npm run test:cloud` can reach real Google before it starts: a project, and credentials
 * that can mint ID tokens. Says what is missing and exits 1 otherwise. These tests create and use a
 * real Cloud Run service (and cost money); `npm test` never does.
 */
import { isKind } from "../../src/core.ts";
import { defaultClients } from "../../src/systems/cloudrun/clients.ts";
import { resolveCloudRunSettings } from "../../src/systems/cloudrun/config.ts";

const NEEDS = `npm run test:cloud runs the conformance and fault tests against real Cloud Run. It needs:
  - GOOGLE_CLOUD_PROJECT (or BIGMACHINE_CLOUDRUN_PROJECT): a project with the Cloud Run, Cloud Logging and
    Artifact Registry APIs enabled, and the worker image pushed (gcloud builds submit --config cloudbuild.yaml);
  - credentials that can mint ID tokens: a service-account key in GOOGLE_APPLICATION_CREDENTIALS, a
    metadata server, or GOOGLE_IMPERSONATE_SERVICE_ACCOUNT on top of your gcloud application-default login;
  - roles/run.admin (or run.developer plus the invoker role) on the project, roles/logging.viewer.
  Optional: BIGMACHINE_CLOUDRUN_REGION, BIGMACHINE_CLOUDRUN_SERVICE (default bigmachine-cloud-test).`;

for (const name of ["CLOUD_RUN_EMULATOR_HOST", "CLOUD_LOGGING_EMULATOR_HOST"]) {
  if (process.env[name]) {
    process.stderr.write(`test:cloud: ${name} is set, which points the clients at the emulators; unset it to test against Google\n`);
    process.exit(1);
  }
}
try {
  const settings = resolveCloudRunSettings({ service: process.env.BIGMACHINE_CLOUDRUN_SERVICE ?? "bigmachine-cloud-test" });
  const clients = await defaultClients(settings);
  await clients.close?.();
  process.stderr.write(`test:cloud: project ${settings.project}, region ${settings.region}, service ${settings.service}, as ${clients.account ?? "an unknown account"}\n`);
} catch (err) {
  const why = isKind(err, "invalid") || isKind(err, "unauthorized") ? (err as Error).message : `unexpected: ${(err as Error).message}`;
  process.stderr.write(`test:cloud: cannot run: ${why}\n\n${NEEDS}\n`);
  process.exit(1);
}
