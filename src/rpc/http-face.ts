/**
 * @module
 * The plain-request face of an RPC server: `POST /bigrpc/Service.method` with a MessagePack body, for
 * simple calls and for tools like curl. Streams do not travel this way; links carry them.
 */
import { errorOf, errorToWire, HTTP_STATUS_OF_KIND, toBigmachineError } from "../errors.ts";
import { decode, encode } from "./codec.ts";
import type { ErrorReplies } from "./error-replies.ts";
import { MSGPACK_CONTENT_TYPE, REMOTE_ERROR_STATUS } from "./protocol.ts";
import type { StatsTable } from "./stats.ts";
import { closeIterator, isStreamable } from "./stream.ts";
import type { Dispatcher } from "./types.ts";

/** What {@link serveHttpCall} needs from its server. */
export interface HttpFace {
  dispatcher: Dispatcher;
  stats: StatsTable;
  maxMessageBytes: number;
  /** How the method's own failures are answered: logged, and with stacks only when asked for. */
  errors: ErrorReplies;
}

/** A response carrying `err` as an encoded WireError (no stack), with the status of its kind unless given. */
export function errorResponse(err: unknown, status?: number): Response {
  const e = toBigmachineError(err);
  return msgpackResponse(encode(errorToWire(e)), status ?? HTTP_STATUS_OF_KIND[e.kind]);
}

/** The 590 response for a failure of `method` itself, answered as the face's error policy says. */
function methodErrorResponse(face: HttpFace, method: string, err: unknown): Response {
  return msgpackResponse(encode(face.errors.answer(method, err)), REMOTE_ERROR_STATUS);
}

function msgpackResponse(body: Uint8Array, status: number): Response {
  return new Response(body, { status, headers: { "content-type": MSGPACK_CONTENT_TYPE } });
}

class TooLarge extends Error {}

/** Reads a request body, refusing (with {@link TooLarge}) as soon as it passes `limit` bytes. */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > limit) {
      reader.cancel().catch(() => {});
      throw new TooLarge();
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
}

/**
 * Serves one plain request for `method`: 200 with the encoded reply; 590 with the error when the
 * dispatcher or the method throws; 400 for a body that does not decode; 413 for one over the limit
 * (by its Content-Length, or counted while reading); 501 for a streamed reply.
 */
export async function serveHttpCall(face: HttpFace, method: string, request: Request): Promise<Response> {
  const started = performance.now();
  let bytesIn = 0;
  const done = (response: Response, ok: boolean, bytesOut: number) => {
    face.stats.settled(method, ok, performance.now() - started, bytesIn, bytesOut);
    return response;
  };
  const tooLarge = (bytes: string) =>
    done(errorResponse(errorOf("invalid", `body of ${method} is ${bytes} bytes, over the limit of ${face.maxMessageBytes}`, { severity: "fatal" }), 413), false, 0);

  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > face.maxMessageBytes) return tooLarge(String(declared));
  let arg: unknown;
  try {
    const body = await readBody(request, face.maxMessageBytes);
    bytesIn = body.byteLength;
    arg = body.byteLength === 0 ? undefined : decode(body);
  } catch (err) {
    if (err instanceof TooLarge) return tooLarge(`more than ${face.maxMessageBytes}`);
    return done(errorResponse(errorOf("invalid", `body of ${method}: ${(err as Error).message}`, { severity: "fatal", cause: err }), 400), false, 0);
  }

  let reply: unknown;
  try {
    reply = await face.dispatcher.dispatch(method, arg, { method, signal: request.signal });
  } catch (err) {
    return done(methodErrorResponse(face, method, err), false, 0);
  }
  if (isStreamable(reply)) {
    closeIterator(reply[Symbol.asyncIterator]());
    const err = errorOf("not-supported", `${method} replies with a stream, which plain requests cannot carry; call it over a link`, { severity: "fatal" });
    return done(errorResponse(err), false, 0);
  }
  let body: Uint8Array;
  try {
    body = encode(reply);
    if (body.byteLength > face.maxMessageBytes) {
      throw errorOf("invalid", `reply of ${method} is ${body.byteLength} bytes, over the limit of ${face.maxMessageBytes}`, { severity: "fatal" });
    }
  } catch (err) {
    return done(methodErrorResponse(face, method, err), false, 0);
  }
  return done(msgpackResponse(body, 200), true, body.byteLength);
}
