// Test environment: no Google credentials, a fixed project id (so google-auth-library never shells out
// to gcloud), and the Google-host guard preloaded here and in every child process.
import { fileURLToPath } from "node:url";

const guard = fileURLToPath(new URL("./google-guard.mjs", import.meta.url));
await import(guard);

process.env.GOOGLE_CLOUD_PROJECT ??= "bigmachine-test";
process.env.GCLOUD_PROJECT ??= process.env.GOOGLE_CLOUD_PROJECT;
process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/bigmachine-tests-use-no-credentials.json";
// A metadata server that refuses connections: a client not given the emulator's fails fast.
process.env.GCE_METADATA_HOST ??= "127.0.0.1:9";
process.env.METADATA_SERVER_DETECTION = "none";
const preload = `--import=${guard}`;
if (!process.env.NODE_OPTIONS?.includes(preload)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} ${preload}`.trim();
}
