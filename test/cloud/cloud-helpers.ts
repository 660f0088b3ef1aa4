/** Settings of the tests against real Cloud Run: a service of their own, the conformance program. */
import type { CloudRunSystemOptions } from "../../src/systems/cloudrun/system.ts";
import { CONFORMANCE_PROGRAM } from "../cloudrun/cloudrun-helpers.ts";

/** The service the cloud tests use; created (managed) if missing, left in place for the next run. */
export const CLOUD_TEST_SERVICE = process.env.BIGMACHINE_CLOUDRUN_SERVICE ?? "bigmachine-cloud-test";

/** System options for a real project: Application Default Credentials, the conformance program. */
export function cloudSystemOptions(extra: CloudRunSystemOptions = {}): CloudRunSystemOptions {
  return { service: CLOUD_TEST_SERVICE, programEntry: CONFORMANCE_PROGRAM, ...extra };
}
