/**
 * @module
 * The attach protocol between a Cloud Run driver and the generic worker: the headers of the attach
 * request, the session proof, and the control messages exchanged on the tunnel before (and beside) the
 * RPC frames. Both sides import it; see `docs/cloudrun.md` for the whole design.
 *
 * An attach is a WebSocket upgrade of {@link ATTACH_PATH} on the service URL:
 *
 * 1. The request carries the Google ID token (checked by Cloud Run's front end), the session secret
 *    and its proof: an HMAC-SHA256 of the secret under the service's deployment key, which the worker
 *    reads from its environment. A resume also names the machine and carries its resume token.
 * 2. The worker refuses before upgrading when it can: {@link ATTACH_STATUS} lists the answers.
 * 3. After the upgrade, text messages are control messages ({@link ControlMessage}, JSON) and binary
 *    messages are frames (or, once, the program being shipped). A fresh attach starts with the
 *    worker's `hello`; the driver answers with `exec` (followed by the program as one binary message
 *    when the hello did not list its digest); `ready` comes once the machine can take the tunnel. A
 *    resume gets `ready` at once. `ready` and everything after it come from the machine process, to
 *    which the worker hands the tunnel's connection. `exit` tells the driver how the machine's process
 *    ended, as it ends; `failed` reports why a start could not complete.
 * 4. After `ready`, the binary messages are the frames of one resumable link (`src/rpc/resumable-link.ts`)
 *    between the driver and the machine process, which holds the other end: the tunnel is its carrier,
 *    and a resume over a new tunnel continues it where it stopped.
 * 5. Every `ready` carries the resume token for the next resume. On a resume it is a fresh one: the
 *    old token stays valid only until the driver's first frame on the new tunnel shows it has the new
 *    one, so a captured token cannot be replayed after that, while a tunnel lost before `ready`
 *    arrived can still be resumed with the old.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { errorOf, SECRET_HEADER, type ErrorKind } from "../../core.ts";

/** The route a driver attaches to. */
export const ATTACH_PATH = "/bigrpc/attach";

/** Version of this protocol; the worker refuses attaches that name another. */
export const ATTACH_PROTOCOL_VERSION = "2";

/** Request headers of an attach. */
export const ATTACH_HEADERS = {
  /** {@link ATTACH_PROTOCOL_VERSION}. */
  version: "x-bigmachine-attach",
  /** The session secret the machine will require on every call (the header every call carries). */
  secret: SECRET_HEADER,
  /** {@link sessionProof} of the secret. */
  proof: "x-bigmachine-proof",
  /** On a resume: the machine to reach. */
  machine: "x-bigmachine-machine",
  /** On a resume: the token the worker gave in its `hello`. */
  resumeToken: "x-bigmachine-resume-token",
} as const;

/**
 * Response header of an attach the worker refuses: why, in words. A refused upgrade carries no body, so
 * this is where the reason goes; its presence also tells the worker's refusals from the front end's.
 */
export const ATTACH_REFUSAL_HEADER = "x-bigmachine-refusal";

/** The worker's environment variable holding the deployment key. */
export const DEPLOYMENT_KEY_ENV = "BIGMACHINE_DEPLOYMENT_KEY";

/** How the worker answers an attach it does not upgrade. */
export const ATTACH_STATUS = {
  /** Missing, malformed or wrong secret or proof. */
  unauthorized: 401,
  /** A resume naming a machine this instance does not hold: try again (affinity is best effort). */
  unknownMachine: 404,
  /** A fresh attach on an instance that already holds a live machine: try again elsewhere. */
  busy: 409,
  /** A resume of a machine whose process has ended. */
  ended: 410,
  /** Not a WebSocket upgrade, or another protocol version. */
  badRequest: 400,
} as const;

/** The smallest secret accepted, in characters; drivers make 43 (32 random bytes, base64url). */
export const MIN_SECRET_LENGTH = 32;
/** The largest program the worker accepts over a tunnel. */
export const MAX_PROGRAM_BYTES = 256 * 1024 * 1024;

/** A random deployment key for a new service. */
export function newDeploymentKey(): string {
  return randomBytes(32).toString("base64url");
}

/** A random token for one machine's resumes. */
export function newResumeToken(): string {
  return randomBytes(24).toString("base64url");
}

/** The proof that the holder of `secret` also knows the deployment key: HMAC-SHA256, base64url. */
export function sessionProof(deploymentKey: string, secret: string): string {
  return createHmac("sha256", deploymentKey).update(secret).digest("base64url");
}

/** Checks `proof` against `secret` in constant time; false for anything malformed. */
export function verifySessionProof(deploymentKey: string, secret: string | null, proof: string | null): boolean {
  if (!secret || !proof || secret.length < MIN_SECRET_LENGTH) return false;
  const want = Buffer.from(sessionProof(deploymentKey, secret));
  const got = Buffer.from(proof);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Compares two tokens in constant time. */
export function sameToken(a: string, b: string | null): boolean {
  if (b === null) return false;
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Sent by the worker first on a fresh attach. */
export interface HelloMessage {
  type: "hello";
  /** The machine this attach created: name it in resumes. */
  machineId: string;
  resumeToken: string;
  /** Cloud Run's instance id (from the metadata server), which labels the instance's logs. */
  instanceId: string;
  /** Digests of the programs this instance already holds. */
  programs: string[];
}

/** Sent by the driver after `hello`: what to run. */
export interface ExecMessage {
  type: "exec";
  /** `sha256:<hex>` of the program. */
  digest: string;
  /** True when the program follows as the next (binary) message. */
  shipped: boolean;
  /** `process.argv.slice(2)` of the machine. */
  args: string[];
  /** Environment variables added to the machine's. */
  env: Record<string, string>;
}

/** Sent by the worker when the machine serves (and at once on a resume): frames flow from here on. */
export interface ReadyMessage {
  type: "ready";
  machineId: string;
  /** The machine process's pid, for diagnostics. */
  pid: number;
  /** The token the next resume must carry. */
  resumeToken: string;
}

/** Sent by the worker when the machine could not be started; the tunnel closes after it. */
export interface FailedMessage {
  type: "failed";
  kind: ErrorKind;
  message: string;
}

/** Sent by the worker when the machine's process ended; the tunnel closes after it. */
export interface ExitMessage {
  type: "exit";
  code: number | null;
  signal: string | null;
}

/** Every control message. */
export type ControlMessage = HelloMessage | ExecMessage | ReadyMessage | FailedMessage | ExitMessage;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** True for a program digest in the form `sha256:<64 hex digits>`. */
export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** Encodes a control message as the text of one WebSocket message. */
export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

/**
 * Decodes and checks a control message. Throws kind `invalid` naming what is wrong, so a confused or
 * hostile peer gets a clear error rather than a crash further on.
 */
export function decodeControl(text: string): ControlMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid("is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("is not an object");
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "hello":
      need(typeof m.machineId === "string" && m.machineId !== "", "hello needs a machineId");
      need(typeof m.resumeToken === "string" && m.resumeToken !== "", "hello needs a resumeToken");
      need(typeof m.instanceId === "string", "hello needs an instanceId");
      need(Array.isArray(m.programs) && m.programs.every(isDigest), "hello needs programs as a list of digests");
      return { type: "hello", machineId: m.machineId as string, resumeToken: m.resumeToken as string, instanceId: m.instanceId as string, programs: m.programs as string[] };
    case "exec":
      need(isDigest(m.digest), "exec needs a digest of the form sha256:<hex>");
      need(typeof m.shipped === "boolean", "exec needs shipped as a boolean");
      need(Array.isArray(m.args) && m.args.every((a) => typeof a === "string"), "exec needs args as a list of strings");
      need(isStringRecord(m.env), "exec needs env as an object of strings");
      return { type: "exec", digest: m.digest as string, shipped: m.shipped as boolean, args: m.args as string[], env: m.env as Record<string, string> };
    case "ready":
      need(typeof m.machineId === "string" && m.machineId !== "", "ready needs a machineId");
      need(Number.isInteger(m.pid), "ready needs a pid");
      need(typeof m.resumeToken === "string" && m.resumeToken !== "", "ready needs a resumeToken");
      return { type: "ready", machineId: m.machineId as string, pid: m.pid as number, resumeToken: m.resumeToken as string };
    case "failed":
      need(typeof m.kind === "string" && typeof m.message === "string", "failed needs a kind and a message");
      return { type: "failed", kind: m.kind as ErrorKind, message: m.message as string };
    case "exit":
      need(m.code === null || Number.isInteger(m.code), "exit needs a code (or null)");
      need(m.signal === null || typeof m.signal === "string", "exit needs a signal (or null)");
      return { type: "exit", code: m.code as number | null, signal: m.signal as string | null };
    default:
      throw invalid(`has unknown type ${JSON.stringify(m.type)}`);
  }
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

function need(condition: boolean, what: string): asserts condition {
  if (!condition) throw invalid(`is malformed: ${what}`);
}

function invalid(what: string) {
  return errorOf("invalid", `attach control message ${what}`, { severity: "fatal" });
}
