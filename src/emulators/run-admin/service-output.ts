/**
 * @module
 * Small pieces of a Service's output shared by the writes and their rollouts: the `Any` wrapping
 * Operations carry it in, and etags.
 */
import { randomBytes } from "node:crypto";
import type { JsonObject } from "./proto-json.ts";
import { TYPES } from "./proto-schema.ts";

/** A Service wrapped as an `Any`, as an Operation's metadata and response carry it; a copy. */
export function serviceAny(service: Record<string, unknown>): JsonObject {
  return { "@type": `type.googleapis.com/${TYPES.service}`, ...structuredClone(service) };
}

/** A fresh opaque etag for a Service. */
export function newEtag(): string {
  return randomBytes(9).toString("base64url");
}
