/**
 * @module
 * The value codec of the RPC layer: MessagePack via msgpackr, with its extra types (Map, Set, Date,
 * BigInt, typed arrays, Error, RegExp, undefined) round-tripping intact.
 *
 * Plain objects are written with msgpackr's record extension and `Map`s as MessagePack maps: that is
 * what keeps the two apart on the wire (as plain maps both would decode to one type). A standard
 * MessagePack map sent by another tool therefore decodes to a `Map`.
 */
import { C1, Packr } from "msgpackr";
import { errorOf } from "../errors.ts";

// One shared instance: msgpackr reuses its output buffer and compiled state across calls. Each result
// is a view of that buffer that later calls do not overwrite.
const packr = new Packr({ moreTypes: true });

/** Encodes `value` as MessagePack. Throws kind `invalid` if the value cannot be encoded. */
export function encode(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (err) {
    throw errorOf("invalid", `cannot encode value: ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
}

/**
 * Decodes one MessagePack value that fills `bytes` exactly. Throws kind `invalid` on anything else
 * (truncated data, trailing bytes, reserved codes).
 */
export function decode(bytes: Uint8Array): unknown {
  return decodeRange(bytes, 0, bytes.byteLength);
}

/** Decodes one MessagePack value that fills `bytes[start, end)` exactly; throws like {@link decode}. */
export function decodeRange(bytes: Uint8Array, start: number, end: number): unknown {
  let value: unknown;
  try {
    value = packr.unpack(bytes, { start, end });
  } catch (err) {
    throw errorOf("invalid", `malformed message (${end - start} bytes): ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
  if (value === C1) throw errorOf("invalid", `malformed message (${end - start} bytes): reserved code 0xc1`, { severity: "fatal" });
  return value;
}
