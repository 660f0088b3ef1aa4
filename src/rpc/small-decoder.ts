/**
 * @module
 * The decoding half of the small-value fast path (see `small-codec.ts` for the subset and why): it
 * decodes a plain-form value that is wholly JSON-like, or gives up and leaves the bytes to msgpackr.
 */
import { SMALL_MAX_BYTES, SMALL_NODE_BUDGET } from "./small-codec.ts";

// Bytes of a float64 are copied here to be read with a DataView that is made once.
const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);
// A Buffer like the frames of a WebSocket link, so reads of `src` see one kind of array.
const NO_SOURCE: Uint8Array = Buffer.alloc(0);
let nodes = 0;

/** Returned by {@link decodeSmall} when the bytes are not (wholly) in the fast path's subset. */
export const NOT_SMALL: unique symbol = Symbol("not small");

// Non-ASCII text: `fatal` so malformed UTF-8 is left to msgpackr; `ignoreBOM` so a leading U+FEFF stays.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// The value being decoded: a module-level cursor, as the decoder never re-enters itself.
let src: Uint8Array = NO_SOURCE;
let at = 0;
let srcEnd = 0;

/**
 * Decodes the plain-form value that fills `bytes[start, end)` if it is wholly in the fast path's
 * subset; otherwise (other types, truncated or trailing bytes, malformed text, a `__proto__` key)
 * returns {@link NOT_SMALL}, and the caller decodes with msgpackr, which also reports what is malformed.
 */
export function decodeSmall(bytes: Uint8Array, start: number, end: number): unknown {
  if (end - start > SMALL_MAX_BYTES) return NOT_SMALL;
  src = bytes;
  at = start;
  srcEnd = end;
  nodes = SMALL_NODE_BUDGET;
  const value = read();
  src = NO_SOURCE; // do not keep the frame alive
  return at === srcEnd ? value : NOT_SMALL;
}

function giveUp(): typeof NOT_SMALL {
  at = srcEnd + 1; // never equal to the end: the whole decode reports NOT_SMALL
  return NOT_SMALL;
}

function read(): unknown {
  if (at >= srcEnd) return giveUp();
  const code = src[at++];
  if (code < 0x80) return code;
  if (code >= 0xe0) return code - 0x100;
  if (code >= 0xa0 && code < 0xc0) return readString(code & 0x1f);
  if (code < 0x90) return readMap(code & 0x0f);
  if (code < 0xa0) return readArray(code & 0x0f);
  switch (code) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcc:
      return at + 1 <= srcEnd ? src[at++] : giveUp();
    case 0xcd:
      return at + 2 <= srcEnd ? uint16() : giveUp();
    case 0xce:
      return at + 4 <= srcEnd ? uint32() : giveUp();
    case 0xd0:
      return at + 1 <= srcEnd ? (src[at++] << 24) >> 24 : giveUp();
    case 0xd1:
      return at + 2 <= srcEnd ? (uint16() << 16) >> 16 : giveUp();
    case 0xd2:
      return at + 4 <= srcEnd ? uint32() | 0 : giveUp();
    case 0xcb:
      return at + 8 <= srcEnd ? float64() : giveUp();
    case 0xd9:
      return at + 1 <= srcEnd ? readString(src[at++]) : giveUp();
    case 0xda:
      return at + 2 <= srcEnd ? readString(uint16()) : giveUp();
    case 0xdc:
      return at + 2 <= srcEnd ? readArray(uint16()) : giveUp();
    case 0xde:
      return at + 2 <= srcEnd ? readMap(uint16()) : giveUp();
    default:
      return giveUp(); // extensions, binary, 64-bit integers, float32: msgpackr's own handling
  }
}

function uint16(): number {
  const value = (src[at] << 8) | src[at + 1];
  at += 2;
  return value;
}

function uint32(): number {
  const value = ((src[at] << 24) | (src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3]) >>> 0;
  at += 4;
  return value;
}

function float64(): number {
  for (let i = 0; i < 8; i++) floatBytes[i] = src[at + i];
  at += 8;
  return floatView.getFloat64(0);
}

const fromCode = String.fromCharCode;

function readString(length: number): string | typeof NOT_SMALL {
  const start = at;
  const stop = start + length;
  if (stop > srcEnd) return giveUp();
  if (length <= 8) {
    let ascii = true;
    for (let i = start; i < stop; i++) if (src[i] >= 0x80) ascii = false;
    if (ascii) {
      at = stop;
      return asciiString(start, length);
    }
  }
  try {
    const text = utf8.decode(src.subarray(start, stop));
    at = stop;
    return text;
  } catch {
    return giveUp();
  }
}

/** An ASCII string of at most 8 bytes at `start`. */
function asciiString(start: number, length: number): string {
  const b = src;
  if (length <= 4) {
    if (length === 0) return "";
    if (length === 1) return fromCode(b[start]);
    if (length === 2) return fromCode(b[start], b[start + 1]);
    if (length === 3) return fromCode(b[start], b[start + 1], b[start + 2]);
    return fromCode(b[start], b[start + 1], b[start + 2], b[start + 3]);
  }
  return fromCode(b[start], b[start + 1], b[start + 2], b[start + 3]) + asciiString(start + 4, length - 4);
}

// Map keys repeat from message to message: their strings are kept in a small cache, checked byte by
// byte, so a repeated key costs no new string and property stores see the same key every time.
const KEY_CACHE_SLOTS = 512;
const MAX_CACHED_KEY_BYTES = 24;
const cachedKeyBytes: (Uint8Array | undefined)[] = new Array(KEY_CACHE_SLOTS).fill(undefined);
const cachedKeys: string[] = new Array(KEY_CACHE_SLOTS).fill("");

function readKey(length: number): string | typeof NOT_SMALL {
  if (length > MAX_CACHED_KEY_BYTES || at + length > srcEnd) return readString(length);
  let hash = length;
  for (let i = at; i < at + length; i++) hash = (hash * 31 + src[i]) | 0;
  const slot = hash & (KEY_CACHE_SLOTS - 1);
  const known = cachedKeyBytes[slot];
  if (known !== undefined && known.byteLength === length) {
    let i = 0;
    while (i < length && known[i] === src[at + i]) i++;
    if (i === length) {
      at += length;
      return cachedKeys[slot];
    }
  }
  const start = at;
  const key = readString(length);
  if (key !== NOT_SMALL) {
    cachedKeyBytes[slot] = Uint8Array.prototype.slice.call(src, start, at); // a copy, not a view of the frame
    cachedKeys[slot] = key;
  }
  return key;
}

function readArray(length: number): unknown {
  if (--nodes < 0) return giveUp();
  const array = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    const item = read();
    if (item === NOT_SMALL) return NOT_SMALL;
    array[i] = item;
  }
  return array;
}

function readMap(count: number): unknown {
  if (--nodes < 0) return giveUp();
  const object: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    if (at >= srcEnd) return giveUp();
    const code = src[at++];
    let key: string | typeof NOT_SMALL;
    if (code >= 0xa0 && code < 0xc0) key = readKey(code & 0x1f);
    else if (code === 0xd9 && at < srcEnd) key = readKey(src[at++]);
    else return giveUp(); // keys of other types: msgpackr turns them into strings its own way
    if (key === NOT_SMALL || key === "__proto__") return giveUp();
    const item = read();
    if (item === NOT_SMALL) return NOT_SMALL;
    object[key] = item;
  }
  return object;
}
