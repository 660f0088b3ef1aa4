/**
 * @module
 * The encoding half of a fast path for the small values most calls carry, in the codec's plain form (standard MessagePack:
 * objects as maps with string keys). It covers only JSON-like values: `null`, booleans, numbers,
 * strings, arrays and plain objects, up to {@link SMALL_NODE_BUDGET} objects and arrays and
 * {@link SMALL_MAX_BYTES} encoded bytes. Anything else makes it give up, and the caller falls back to
 * msgpackr (`codec.ts`), which stays the reference for the format: everything written here decodes
 * there to the same value, and everything decoded by `small-decoder.ts` is what msgpackr's plain
 * form returns.
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
