/**
 * @module
 * A fast path for the small values most calls carry, in the codec's plain form (standard MessagePack:
 * objects as maps with string keys). It covers only JSON-like values: `null`, booleans, numbers,
 * strings, arrays and plain objects, up to {@link SMALL_NODE_BUDGET} objects and arrays and
 * {@link SMALL_MAX_BYTES} encoded bytes. Anything else makes it give up, and the caller falls back to
 * msgpackr (`codec.ts`), which stays the reference for the format: everything written here decodes
 * there to the same value, and everything decoded here is what msgpackr's plain form returns.
 *
 * Why: for a value of a few dozen bytes, checking that it is plain and then packing it with msgpackr
 * walked it twice and paid msgpackr's buffer management per message; one pass that checks and writes
 * at once, into a scratch buffer, takes about half the time. The decoder is no faster than msgpackr's
 * in a tight loop, but with one call in flight, where each message finds the caches cold after the
 * wait for the socket, its smaller code path measured faster across processes (see
 * `docs/performance.md`).
 */

/** Most objects and arrays (together) a value may hold for the fast path. */
export const SMALL_NODE_BUDGET = 64;
/** Largest encoding the fast path writes, in bytes. */
export const SMALL_MAX_BYTES = 4096;

// The scratch buffer the encoder writes to; each encoding is a view of it, valid until the next one.
const scratch = Buffer.allocUnsafeSlow(SMALL_MAX_BYTES);
const scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
const GIVE_UP = -1;

let nodes = 0;

/**
 * Encodes `value` in the plain form if it is small and JSON-like; returns a view of a shared scratch
 * buffer that the next call overwrites (copy it out at once), or undefined if the value is outside the
 * subset or too large.
 */
export function encodeSmall(value: unknown): Uint8Array | undefined {
  nodes = SMALL_NODE_BUDGET;
  const end = write(value, 0);
  return end === GIVE_UP ? undefined : scratch.subarray(0, end);
}

/** Writes `value` at `pos`; returns the position after it, or {@link GIVE_UP}. */
function write(value: unknown, pos: number): number {
  switch (typeof value) {
    case "string":
      return writeString(value, pos);
    case "number":
      return writeNumber(value, pos);
    case "boolean":
      if (pos >= SMALL_MAX_BYTES) return GIVE_UP;
      scratch[pos] = value ? 0xc3 : 0xc2;
      return pos + 1;
    case "object": {
      if (value === null) {
        if (pos >= SMALL_MAX_BYTES) return GIVE_UP;
        scratch[pos] = 0xc0;
        return pos + 1;
      }
      if (--nodes < 0) return GIVE_UP;
      const constructor = (value as object).constructor;
      if (constructor === Array) return writeArray(value as unknown[], pos);
      if (constructor === Object) return writeObject(value as Record<string, unknown>, pos);
      return GIVE_UP;
    }
    default:
      return GIVE_UP; // undefined, bigint, symbol, function: msgpackr's extensions handle them
  }
}

function writeNumber(value: number, pos: number): number {
  if (pos + 9 > SMALL_MAX_BYTES) return GIVE_UP;
  if (value >>> 0 === value && !Object.is(value, -0)) {
    if (value < 0x80) {
      scratch[pos] = value;
      return pos + 1;
    }
    if (value < 0x100) {
      scratch[pos] = 0xcc;
      scratch[pos + 1] = value;
      return pos + 2;
    }
    if (value < 0x10000) {
      scratch[pos] = 0xcd;
      scratchView.setUint16(pos + 1, value);
      return pos + 3;
    }
    scratch[pos] = 0xce;
    scratchView.setUint32(pos + 1, value);
    return pos + 5;
  }
  if (value >> 0 === value && !Object.is(value, -0)) {
    if (value >= -32) {
      scratch[pos] = value & 0xff;
      return pos + 1;
    }
    scratch[pos] = 0xd2;
    scratchView.setInt32(pos + 1, value);
    return pos + 5;
  }
  // Everything else (fractions, -0, large integers, NaN, infinities) as a float64, which is exact.
  scratch[pos] = 0xcb;
  scratchView.setFloat64(pos + 1, value);
  return pos + 9;
}

function writeString(value: string, pos: number): number {
  const length = value.length;
  // Short ASCII strings, the common case for keys, are written without an encoder call.
  if (length < 32 && pos + 1 + length <= SMALL_MAX_BYTES) {
    let i = 0;
    for (; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) break;
      scratch[pos + 1 + i] = code;
    }
    if (i === length) {
      scratch[pos] = 0xa0 | length;
      return pos + 1 + length;
    }
  }
  const bytes = Buffer.byteLength(value, "utf8");
  const header = bytes < 32 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
  if (pos + header + bytes > SMALL_MAX_BYTES) return GIVE_UP;
  if (header === 1) scratch[pos] = 0xa0 | bytes;
  else if (header === 2) {
    scratch[pos] = 0xd9;
    scratch[pos + 1] = bytes;
  } else {
    scratch[pos] = 0xda;
    scratchView.setUint16(pos + 1, bytes);
  }
  scratch.write(value, pos + header, bytes, "utf8");
  return pos + header + bytes;
}

function writeArray(array: unknown[], pos: number): number {
  const length = array.length;
  pos = writeContainerHeader(length, 0x90, 0xdc, pos);
  for (let i = 0; i < length && pos !== GIVE_UP; i++) pos = write(array[i], pos);
  return pos;
}

function writeObject(object: Record<string, unknown>, pos: number): number {
  let count = 0;
  for (const key in object) count++;
  pos = writeContainerHeader(count, 0x80, 0xde, pos);
  for (const key in object) {
    if (pos === GIVE_UP) return GIVE_UP;
    const item = object[key];
    if (item === undefined) return GIVE_UP; // msgpackr writes undefined as an extension
    pos = write(item, writeString(key, pos));
  }
  return pos;
}

/** A fixarray/fixmap header below 16 entries, else a 16-bit one; more entries give up. */
function writeContainerHeader(count: number, fixBase: number, code16: number, pos: number): number {
  if (pos === GIVE_UP || pos + 3 > SMALL_MAX_BYTES || count >= 0x10000) return GIVE_UP;
  if (count < 16) {
    scratch[pos] = fixBase | count;
    return pos + 1;
  }
  scratch[pos] = code16;
  scratchView.setUint16(pos + 1, count);
  return pos + 3;
}

// ---- decoding ----

/** Returned by {@link decodeSmall} when the bytes are not (wholly) in the fast path's subset. */
export const NOT_SMALL: unique symbol = Symbol("not small");

// Non-ASCII text: `fatal` so malformed UTF-8 is left to msgpackr; `ignoreBOM` so a leading U+FEFF stays.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// The value being decoded: a module-level cursor, as the decoder never re-enters itself.
let src: Uint8Array = scratch;
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
  src = scratch; // do not keep the frame alive
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
  for (let i = 0; i < 8; i++) scratch[i] = src[at + i];
  at += 8;
  return scratchView.getFloat64(0);
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
