/**
 * @module
 * The Cloud Run instance id, read once from the instance's metadata server. It labels the instance's
 * log entries (`labels.instanceId`), so a driver that knows it can follow the machine's output. Off
 * Cloud Run (no metadata server, or one that does not answer), the worker makes up a random id and
 * says so, since its logs then carry no such label anyway.
 */
import { randomBytes } from "node:crypto";

/** The metadata path of the instance id. */
export const INSTANCE_ID_PATH = "/computeMetadata/v1/instance/id";
/** Where Google's metadata server answers when `GCE_METADATA_HOST` does not say otherwise. */
export const DEFAULT_METADATA_HOST = "metadata.google.internal";

/** Options for {@link readInstanceId}. */
export interface InstanceIdOptions {
  /** `HOST:PORT` of the metadata server; default `GCE_METADATA_HOST`, else {@link DEFAULT_METADATA_HOST}. */
  metadataHost?: string;
  /** How long to wait for the answer; default 3 s. */
  timeoutMs?: number;
  /** Where the fallback is reported; default standard error. */
  log?: (line: string) => void;
}

/** Where the id came from: the metadata server, or made up because it could not be read. */
export interface InstanceId {
  id: string;
  source: "metadata" | "random";
}

/** Reads the instance id from the metadata server; falls back to a random hex id, logging why. Never rejects. */
export async function readInstanceId(options: InstanceIdOptions = {}): Promise<InstanceId> {
  const host = options.metadataHost ?? process.env.GCE_METADATA_HOST ?? DEFAULT_METADATA_HOST;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let why: string;
  try {
    const res = await fetch(`http://${host}${INSTANCE_ID_PATH}`, {
      headers: { "metadata-flavor": "Google" },
      signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
    });
    const text = (await res.text()).trim();
    if (res.ok && /^[\w.-]{1,256}$/.test(text)) return { id: text, source: "metadata" };
    why = res.ok ? `it answered ${JSON.stringify(text.slice(0, 80))}, which is not an instance id` : `it answered HTTP ${res.status}`;
  } catch (err) {
    why = (err as Error).message;
  }
  const id = randomBytes(16).toString("hex");
  log(`bigmachine worker: could not read the instance id from the metadata server at ${host} (${why}); using the random id ${id}`);
  return { id, source: "random" };
}
