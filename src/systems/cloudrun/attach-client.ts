/**
 * @module
 * The driver's side of an attach: {@link attach} makes a fresh attach to a service (the worker starts
 * the driver's program as a new machine), {@link resume} reattaches to a machine an instance holds.
 * Both resolve with a {@link TunnelLink} carrying the RPC frames, ready for an `RpcPeer`.
 *
 * Refusals become typed errors, so callers decide on the severity alone:
 *
 * | answer | error kind | severity | meaning |
 * |---|---|---|---|
 * | 401, 403 | `unauthorized` | fatal | the ID token, the invoker role, the proof or the resume token is wrong |
 * | 400 | `invalid` | fatal | the worker speaks another attach protocol version |
 * | 404 from the worker | `unavailable` | temporary | the instance reached does not hold the machine (affinity is best effort): retry |
 * | 404 from the front end | `not-exist` | fatal | no service at that URL |
 * | 409 | `unavailable` | temporary | the instance reached is busy with another machine: retry, it lands elsewhere |
 * | 410 | `unavailable` | fatal | the machine has ended |
 * | 429, 503 | `unavailable` | temporary | no instance can take the attach now |
 * | other statuses, a refused or dropped connection | `net` | temporary | the path failed |
 * | `failed` from the worker | the worker's kind | temporary for `net`, `timeout`; fatal otherwise | the machine could not be started |
 * | no answer in time | `timeout` | temporary | |
 * | the caller's signal | `canceled` | fatal | |
 */
import { errorOf } from "../../core.ts";
import {
  ATTACH_HEADERS,
  ATTACH_PROTOCOL_VERSION,
  MAX_PROGRAM_BYTES,
  type ControlMessage,
  type HelloMessage,
  type ReadyMessage,
} from "./attach-protocol.ts";
import { Deadline, dial } from "./attach-dial.ts";
import { describeMachineExit, failureError, tunnelLink, type TunnelLink } from "./control-link.ts";
import type { TunnelSocket } from "./tunnel-socket.ts";

export { attachUrl, cookieOf, refusalError, refusalOf } from "./attach-dial.ts";

/** How long a fresh attach may take, dial to `ready`: a cold instance may take minutes to start. */
export const DEFAULT_ATTACH_TIMEOUT_MS = 300_000;
/** How long a resume may take, dial to `ready`. */
export const DEFAULT_RESUME_TIMEOUT_MS = 60_000;

/** Options every attach takes. */
export interface AttachCommonOptions {
  /** A Google ID token whose audience is the service URL; sent as `Authorization: Bearer`. */
  idToken: string;
  /** The session secret; the machine requires it on every call. */
  secret: string;
  /** `sessionProof(deploymentKey, secret)`. */
  proof: string;
  /** A `Cookie` header to send: the affinity cookie an earlier attach returned. */
  cookie?: string;
  /** Aborting fails the attach with kind `canceled` and closes its tunnel. */
  signal?: AbortSignal;
  /** Bounds the whole attach, from the dial to `ready`. */
  timeoutMs?: number;
  /** Receives the control messages that arrive once frames flow (`exit`, `failed`). */
  onControl?: (message: ControlMessage) => void;
}

/** The driver's program, as the worker runs it. */
export interface ProgramToShip {
  /** `sha256:<hex>` of the code. */
  digest: string;
  /** The bundled program, or a function that reads it; called only when the instance lacks the program. */
  code: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

/** Options of {@link attach}. */
export interface AttachOptions extends AttachCommonOptions {
  program: ProgramToShip;
  /** `process.argv.slice(2)` of the machine. */
  args?: string[];
  /** Environment variables added to the machine's (the keepalive timings among them). */
  env?: Record<string, string>;
}

/** Options of {@link resume}. */
export interface ResumeOptions extends AttachCommonOptions {
  /** The machine to reach, from the attach's hello. */
  machineId: string;
  /** Its resume token, from the attach's hello. */
  resumeToken: string;
}

/** A machine reached through a tunnel. */
export interface Resumed {
  /** The tunnel as an RPC link. */
  link: TunnelLink;
  ready: ReadyMessage;
  /** The `Cookie` header that steers later attaches to the same instance, when the service set one. */
  cookie: string | undefined;
}

/** A new machine, started by a fresh attach. */
export interface Attached extends Resumed {
  /** The worker's hello: the machine id and resume token, the instance id, the programs it held. */
  hello: HelloMessage;
  /** Whether the program was sent (the instance did not hold it). */
  shipped: boolean;
}

/**
 * Makes a fresh attach to the service at `url` (its `http(s)://` URL): the worker says hello, the
 * program is shipped if the instance lacks it, and the worker starts it as a machine. Rejects with a
 * typed error (see the module doc) and leaves nothing open.
 */
export async function attach(url: string, options: AttachOptions): Promise<Attached> {
  const deadline = new Deadline(options.timeoutMs ?? DEFAULT_ATTACH_TIMEOUT_MS, options.signal);
  try {
    const { tunnel, cookie } = await dial(url, credentialHeaders(options), deadline);
    try {
      const hello = await expectControl(tunnel, "hello", deadline, "the worker's hello");
      const shipped = !hello.programs.includes(options.program.digest);
      const code = shipped ? await programCode(options.program) : undefined;
      tunnel.sendControl({ type: "exec", digest: options.program.digest, shipped, args: options.args ?? [], env: options.env ?? {} });
      if (code !== undefined) tunnel.sendBinary(code);
      const ready = await expectControl(tunnel, "ready", deadline, `machine ${hello.machineId} to be ready`);
      return { link: tunnelLink(tunnel, { machineId: hello.machineId, onControl: options.onControl }), hello, ready, cookie, shipped };
    } catch (err) {
      tunnel.close(1000, "attach abandoned");
      throw err;
    }
  } finally {
    deadline.clear();
  }
}

/**
 * Reattaches to machine `options.machineId` held by an instance of the service at `url`. Rejects with
 * a typed error (see the module doc): a temporary one when the instance reached does not hold the
 * machine, which a caller retries with the affinity cookie.
 */
export async function resume(url: string, options: ResumeOptions): Promise<Resumed> {
  const deadline = new Deadline(options.timeoutMs ?? DEFAULT_RESUME_TIMEOUT_MS, options.signal);
  try {
    const headers = {
      ...credentialHeaders(options),
      [ATTACH_HEADERS.machine]: options.machineId,
      [ATTACH_HEADERS.resumeToken]: options.resumeToken,
    };
    const { tunnel, cookie } = await dial(url, headers, deadline);
    try {
      const ready = await expectControl(tunnel, "ready", deadline, `machine ${options.machineId} to be ready`);
      return { link: tunnelLink(tunnel, { machineId: options.machineId, onControl: options.onControl }), ready, cookie };
    } catch (err) {
      tunnel.close(1000, "resume abandoned");
      throw err;
    }
  } finally {
    deadline.clear();
  }
}

async function programCode(program: ProgramToShip): Promise<Uint8Array> {
  const code = typeof program.code === "function" ? await program.code() : program.code;
  if (code.byteLength > MAX_PROGRAM_BYTES) {
    throw errorOf("invalid", `program ${program.digest} has ${code.byteLength} bytes, more than the ${MAX_PROGRAM_BYTES} a worker accepts; bake it into the image instead`, { severity: "fatal" });
  }
  return code;
}

function credentialHeaders(options: AttachCommonOptions): Record<string, string> {
  return {
    authorization: `Bearer ${options.idToken}`,
    [ATTACH_HEADERS.version]: ATTACH_PROTOCOL_VERSION,
    [ATTACH_HEADERS.secret]: options.secret,
    [ATTACH_HEADERS.proof]: options.proof,
    ...(options.cookie ? { cookie: options.cookie } : {}),
  };
}

/** Reads the next message, which must be the control message `type`; `failed` and `exit` become errors. */
async function expectControl<T extends "hello" | "ready">(tunnel: TunnelSocket, type: T, deadline: Deadline, what: string): Promise<Extract<ControlMessage, { type: T }>> {
  let next;
  try {
    next = await tunnel.next({ timeoutMs: deadline.remainingMs, what, signal: deadline.signal });
  } catch (err) {
    if (deadline.signal.aborted) throw deadline.error(`waiting for ${what}`);
    throw err;
  }
  if (next.kind === "control" && next.message.type === type) return next.message as Extract<ControlMessage, { type: T }>;
  if (next.kind === "control" && next.message.type === "failed") throw failureError(next.message, "the worker could not start the machine");
  if (next.kind === "control" && next.message.type === "exit") {
    throw errorOf("unavailable", `the machine ${describeMachineExit(next.message)} before it was ready`, { severity: "fatal" });
  }
  const got = next.kind === "binary" ? "a binary message" : `a ${next.message.type} message`;
  throw errorOf("invalid", `attach protocol error: expected ${type} while waiting for ${what}, got ${got}`, { severity: "fatal" });
}
