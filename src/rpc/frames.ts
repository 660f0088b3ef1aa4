/**
 * @module
 * Building and reading the binary frames described in `protocol.ts`. Builders allocate one buffer per
 * frame (small ones come from Node's shared pool) and copy the payload into it once.
 */
import { errorOf, type WireError } from "../errors.ts";
import { decodeRange, encodeAs, isPlainValue } from "./codec.ts";
import { allocFrame } from "./frame-pool.ts";
import { encodeSmall } from "./small-codec.ts";
import { decodeSmall, NOT_SMALL } from "./small-decoder.ts";
import { CALL_HEADER_BYTES, FrameKind, HEADER_BYTES, MAX_METHOD_BYTES, PLAIN_VALUE } from "./protocol.ts";

/** The kind-byte flag for carrying `value`: {@link PLAIN_VALUE} when the plain form is exact, else 0. */
export function valueFlag(value: unknown): number {
  return isPlainValue(value) ? PLAIN_VALUE : 0;
}

/** Encodes `value` in the form `flag` (from {@link valueFlag}) names. Throws kind `invalid`. */
export function encodeValue(value: unknown, flag: number): Uint8Array {
  return encodeAs(value, flag !== 0);
}

/**
 * Encodes `value` for a frame: small JSON-like values through the fast path (`small-codec.ts`), the
 * rest as {@link valueFlag} and {@link encodeValue} decide. Returns the payload (a view that the next
 * encoding may overwrite: copy it into its frame at once) and sets {@link encodedFlag} to its form.
 * Throws kind `invalid`.
 */
export function encodeFrameValue(value: unknown): Uint8Array {
  const small = encodeSmall(value);
  if (small !== undefined) {
    encodedFlag = PLAIN_VALUE;
    return small;
  }
  const flag = valueFlag(value);
  const payload = encodeValue(value, flag);
  encodedFlag = flag;
  return payload;
}

/** The kind-byte flag of the last {@link encodeFrameValue} result (a module variable, to spare an object per call). */
export let encodedFlag = 0;

/** Decodes the value of `frame` from `start` to its end, in the form its kind byte names. */
export function frameValue(frame: Uint8Array, start: number): unknown {
  if ((frame[0] & PLAIN_VALUE) === 0) return decodeRange(frame, start, frame.byteLength, false);
  const small = decodeSmall(frame, start, frame.byteLength);
  return small !== NOT_SMALL ? small : decodeRange(frame, start, frame.byteLength, true);
}

function writeHeader(frame: Buffer, kind: number, id: number): void {
  frame[0] = kind;
  frame.writeUInt32BE(id, 1);
}

/** A frame of `kind` whose payload is `payload` (REPLY, ERROR, DATA, BYTES, END). */
export function payloadFrame(kind: number, id: number, payload: Uint8Array): Buffer {
  const frame = allocFrame(HEADER_BYTES + payload.byteLength);
  writeHeader(frame, kind, id);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** A frame of `kind` (ERROR or END) carrying an error in its wire form. */
export function errorFrame(kind: number, id: number, err: WireError): Buffer {
  // A WireError is strings and nested WireErrors: always exact in the plain form.
  return payloadFrame(kind | PLAIN_VALUE, id, encodeAs(err, true));
}

/** A frame of `kind` with nothing after the header (STREAM, END, CANCEL). */
export function bareFrame(kind: number, id: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES);
  writeHeader(frame, kind, id);
  return frame;
}

/** A CREDIT frame granting `items` and `bytes` more. */
export function creditFrame(kind: number, id: number, items: number, bytes: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + 8);
  writeHeader(frame, kind, id);
  frame.writeUInt32BE(Math.min(items, 0xffffffff), HEADER_BYTES);
  frame.writeUInt32BE(Math.min(bytes, 0xffffffff), HEADER_BYTES + 4);
  return frame;
}

// Method names repeat; their UTF-8 forms are kept rather than re-encoded on every call.
const methodBytesCache = new Map<string, Buffer>();
const METHOD_CACHE_LIMIT = 4096;

/** The UTF-8 bytes of a method name; throws kind `invalid` if it is too long for a CALL frame. */
export function methodBytes(method: string): Buffer {
  let bytes = methodBytesCache.get(method);
  if (bytes === undefined) {
    bytes = Buffer.from(method, "utf8");
    if (bytes.byteLength > MAX_METHOD_BYTES) {
      throw errorOf("invalid", `method name is ${bytes.byteLength} bytes long; the limit is ${MAX_METHOD_BYTES}`, { severity: "fatal" });
    }
    if (methodBytesCache.size >= METHOD_CACHE_LIMIT) methodBytesCache.clear();
    methodBytesCache.set(method, bytes);
  }
  return bytes;
}

/** A CALL frame; `payload` is empty when the argument is streamed. `valueFlags` is 0 or {@link PLAIN_VALUE}. */
export function callFrame(id: number, flags: number, method: Buffer, payload: Uint8Array, valueFlags = 0): Buffer {
  const offset = CALL_HEADER_BYTES + method.byteLength;
  const frame = allocFrame(offset + payload.byteLength);
  writeHeader(frame, FrameKind.CALL | valueFlags, id);
  frame[HEADER_BYTES] = flags;
  frame[HEADER_BYTES + 1] = method.byteLength;
  method.copy(frame, CALL_HEADER_BYTES);
  frame.set(payload, offset);
  return frame;
}

/** The call id of a frame at least {@link HEADER_BYTES} long. */
export function frameId(frame: Uint8Array): number {
  return ((frame[1] << 24) | (frame[2] << 16) | (frame[3] << 8) | frame[4]) >>> 0;
}

/** The u32 at `offset`. */
export function readU32(frame: Uint8Array, offset: number): number {
  return ((frame[offset] << 24) | (frame[offset + 1] << 16) | (frame[offset + 2] << 8) | frame[offset + 3]) >>> 0;
}

const utf8 = new TextDecoder();

/** Where a CALL frame's argument starts, or -1 if the frame is too short to hold its header and method. */
export function callPayloadStart(frame: Uint8Array): number {
  if (frame.byteLength < CALL_HEADER_BYTES) return -1;
  const payloadStart = CALL_HEADER_BYTES + frame[HEADER_BYTES + 1];
  return frame.byteLength < payloadStart ? -1 : payloadStart;
}

/** The flags byte of a CALL frame. */
export function callFlags(frame: Uint8Array): number {
  return frame[HEADER_BYTES];
}

// Recently decoded method names, in a few slots chosen by length and last byte: a served method is
// called again and again, and comparing a dozen bytes costs less than decoding them into a new string
// (which every map keyed by the name would then hash again).
const METHOD_SLOTS = 16;
const recentMethodBytes: (Uint8Array | undefined)[] = new Array(METHOD_SLOTS).fill(undefined);
const recentMethods: string[] = new Array(METHOD_SLOTS).fill("");

/** The method name of a CALL frame whose argument starts at `payloadStart`. */
export function callMethod(frame: Uint8Array, payloadStart: number): string {
  const length = payloadStart - CALL_HEADER_BYTES;
  if (length === 0) return "";
  const slot = (length * 31 + frame[payloadStart - 1]) & (METHOD_SLOTS - 1);
  const known = recentMethodBytes[slot];
  if (known !== undefined && known.byteLength === length) {
    let i = 0;
    while (i < length && known[i] === frame[CALL_HEADER_BYTES + i]) i++;
    if (i === length) return recentMethods[slot];
  }
  const method = Buffer.isBuffer(frame)
    ? frame.toString("utf8", CALL_HEADER_BYTES, payloadStart)
    : utf8.decode(frame.subarray(CALL_HEADER_BYTES, payloadStart));
  // A copy: on a Buffer, slice() would be a view that keeps the whole received chunk alive.
  recentMethodBytes[slot] = Uint8Array.prototype.slice.call(frame, CALL_HEADER_BYTES, payloadStart);
  recentMethods[slot] = method;
  return method;
}
