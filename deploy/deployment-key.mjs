// A step of cloudbuild.yaml: the deployment key the worker's service is deployed with.
//
//   node deploy/deployment-key.mjs SERVICES_JSON SERVICE OUT_FILE
//
// SERVICES_JSON holds what `gcloud run services list --region=R --format=json` printed. When SERVICE is
// among those services with a usable key (BIGMACHINE_DEPLOYMENT_KEY in its container's environment, at
// least 32 characters) that key is kept: drivers sharing the service hold proofs under it. Otherwise a
// new one is made, 32 random bytes in base64url. The key goes to OUT_FILE (mode 600), never to output.
// Plain JavaScript, so that the node image of the build step runs it without installing anything.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const KEY_ENV = "BIGMACHINE_DEPLOYMENT_KEY";
// The worker refuses shorter keys (MIN_DEPLOYMENT_KEY_LENGTH in src/systems/cloudrun/service-spec.ts).
const MIN_KEY_LENGTH = 32;

const [servicesFile, serviceName, outFile] = process.argv.slice(2);
if (!servicesFile || !serviceName || !outFile) {
  console.error("usage: node deploy/deployment-key.mjs SERVICES_JSON SERVICE OUT_FILE");
  process.exit(2);
}

const services = JSON.parse(readFileSync(servicesFile, "utf8") || "[]");
if (!Array.isArray(services)) {
  console.error(`${servicesFile}: expected the JSON list gcloud run services list prints`);
  process.exit(1);
}
const service = services.find((s) => nameOf(s) === serviceName);
const existing = service === undefined ? undefined : keyOf(service);
const kept = existing !== undefined && existing.length >= MIN_KEY_LENGTH;
writeFileSync(outFile, kept ? existing : randomBytes(32).toString("base64url"), { mode: 0o600 });
console.log(
  kept
    ? `service ${serviceName}: keeping its deployment key`
    : `service ${serviceName}: ${service === undefined ? "new service" : existing === undefined ? "no deployment key" : "deployment key too short"}, made a new key`,
);

/** The service's short name, from gcloud's Knative form (`metadata.name`) or the Admin API v2 form (`name`). */
function nameOf(s) {
  return s?.metadata?.name ?? String(s?.name ?? "").split("/").pop();
}

/** The key in the service's first container, from either form. */
function keyOf(s) {
  const containers = s?.spec?.template?.spec?.containers ?? s?.template?.containers ?? [];
  const value = containers[0]?.env?.find((e) => e?.name === KEY_ENV)?.value;
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}
