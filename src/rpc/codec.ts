/**
 * @module
 * The value codec of the RPC layer: MessagePack via msgpackr, with its extra types (Map, Set, Date,
 * BigInt, typed arrays, Error, RegExp, undefined) round-tripping intact.
 *
 * Two forms share one wire format:
 * - The *record* form ({@link encode}, {@link decode}) writes plain objects with msgpackr's record
 *   extension and `Map`s as MessagePack maps, which is what keeps the two apart (as plain maps both
 *   would decode to one type). A standard MessagePack map from another tool decodes to a `Map`. This is
 *   the form of the HTTP face, and of any value that is large or holds a Map or a class instance.
 * - The *plain* form writes objects as standard MessagePack maps and decodes maps as objects. It is
 *   about twice as fast for the small values most calls carry (records are defined inline in every
 *   message, which costs more than it saves on small values), so frames use it whenever
 *   {@link isPlainValue} shows it is exact, and mark it with a flag in the frame header. Small
 *   JSON-like values in this form are encoded and decoded by a faster path of their own
 *   (`small-codec.ts`, `small-decoder.ts`) that falls back to these functions for everything else.
 */
import { C1, Packr } from "msgpackr";
import { errorOf } from "../errors.ts";

// Shared instances: msgpackr reuses its output buffer and compiled state across calls. Each result is a
// view of that buffer that later calls do not overwrite.
const recordPackr = new Packr({ moreTypes: true });
const plainPackr = new Packr({ moreTypes: true, useRecords: false, mapsAsObjects: true });

/** Nodes {@link isPlainValue} visits before deciding a value is too large to be worth checking. */
const PLAIN_CHECK_BUDGET = 64;

function encodeWith(packr: Packr, value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (err) {
    throw errorOf("invalid", `cannot encode value: ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
}

function decodeWith(packr: Packr, bytes: Uint8Array, start: number, end: number): unknown {
  let value: unknown;
  try {
    value = packr.unpack(bytes, { start, end });
  } catch (err) {
    throw errorOf("invalid", `malformed message (${end - start} bytes): ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
  if (value === C1) throw errorOf("invalid", `malformed message (${end - start} bytes): reserved code 0xc1`, { severity: "fatal" });
  return value;
}

/** Encodes `value` as MessagePack (record form). Throws kind `invalid` if the value cannot be encoded. */
export function encode(value: unknown): Uint8Array {
  return encodeWith(recordPackr, value);
}

/**
 * Decodes one MessagePack value (record form) that fills `bytes` exactly. Throws kind `invalid` on
 * anything else (truncated data, trailing bytes, reserved codes).
 */
export function decode(bytes: Uint8Array): unknown {
  return decodeWith(recordPackr, bytes, 0, bytes.byteLength);
}

/** Decodes one value that fills `bytes[start, end)` exactly, in the plain or record form. */
export function decodeRange(bytes: Uint8Array, start: number, end: number, plain = false): unknown {
  return decodeWith(plain ? plainPackr : recordPackr, bytes, start, end);
}

/** Encodes `value` in the plain or the record form. */
export function encodeAs(value: unknown, plain: boolean): Uint8Array {
  return encodeWith(plain ? plainPackr : recordPackr, value);
}

/**
 * Whether `value` survives the plain form exactly: it is small, and made only of primitives, plain
 * objects, arrays, Dates and byte or typed arrays (no Map, which would come back as an object, and no
 * class instance, whose fields are not checked).
 */
export function isPlainValue(value: unknown): boolean {
  return plainBudget(value, PLAIN_CHECK_BUDGET) >= 0;
}

/** The budget left after checking `value`, or -1 if it is not plain or the budget ran out. */
function plainBudget(value: unknown, budget: number): number {
  if (typeof value !== "object" || value === null) return budget;
  if (--budget < 0) return -1;
  const constructor = (value as object).constructor;
  if (constructor === Object) {
    for (const key in value) {
      budget = plainBudget((value as Record<string, unknown>)[key], budget);
      if (budget < 0) return -1;
    }
    return budget;
  }
  if (constructor === Array) {
    const array = value as unknown[];
    for (let i = 0; i < array.length; i++) {
      budget = plainBudget(array[i], budget);
      if (budget < 0) return -1;
    }
    return budget;
  }
  return value instanceof Date || ArrayBuffer.isView(value) ? budget : -1;
}
