import { describe, expect, it } from "vitest";
import { decodeRange, encodeAs } from "./codec.ts";
import { encodeSmall, SMALL_MAX_BYTES, SMALL_NODE_BUDGET } from "./small-codec.ts";
import { decodeSmall, NOT_SMALL } from "./small-decoder.ts";

/** Encodes with the fast path (which must accept `value`) and decodes with msgpackr's plain form. */
function viaFastPath(value: unknown): unknown {
  const bytes = encodeSmall(value);
  expect(bytes).toBeDefined();
  const copy = Uint8Array.from(bytes!);
  return decodeRange(copy, 0, copy.byteLength, true);
}

describe("small-value encoder", () => {
  it("writes what msgpackr's plain form decodes to the same value", () => {
    const values: unknown[] = [
      { seq: 12345, op: "ping", values: [1, 2, 3], ok: true },
      null,
      true,
      false,
      "",
      "x".repeat(31),
      "y".repeat(32),
      "z".repeat(300),
      "héllo wörld ✓ 🚀",
      "\ufeffleading byte order mark",
      [],
      {},
      [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1],
      [0.5, -2.25, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Infinity, -Infinity],
      { nested: { deeper: { list: [{ a: 1 }, { b: [null, "s"] }] } }, "key with spaces": 1, ünïcode: "k" },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      Array.from({ length: 40 }, (_, i) => i * 1.5),
    ];
    for (const value of values) expect(viaFastPath(value)).toEqual(value);
  });

  it("keeps NaN and negative zero", () => {
    expect(viaFastPath(NaN)).toBeNaN();
    expect(Object.is(viaFastPath(-0), -0)).toBe(true);
  });

  it("gives up on values outside its subset, leaving them to msgpackr", () => {
    const outside: unknown[] = [
      undefined,
      { a: undefined },
      [1, undefined],
      10n,
      new Map([[1, 2]]),
      new Set([1]),
      new Date(0),
      new Uint8Array([1, 2]),
      Object.create(null),
      new (class Point {
        x = 1;
      })(),
      { fn: () => 1 },
      Symbol("s"),
    ];
    for (const value of outside) expect(encodeSmall(value)).toBeUndefined();
  });

  it("gives up on values over its size or node budget", () => {
    expect(encodeSmall("x".repeat(SMALL_MAX_BYTES))).toBeUndefined();
    expect(encodeSmall(Array.from({ length: SMALL_NODE_BUDGET + 1 }, () => ({})))).toBeUndefined();
    expect(encodeSmall(Array.from({ length: SMALL_NODE_BUDGET - 1 }, () => ({})))).toBeDefined();
  });

  it("reuses one scratch buffer: a result is only valid until the next encoding", () => {
    const first = encodeSmall("first")!;
    const copy = Uint8Array.from(first);
    encodeSmall("other");
    expect(Buffer.from(first)).not.toEqual(Buffer.from(copy));
  });
});

/** Decodes `bytes` with the fast path and checks the result against msgpackr's plain form. */
function decodedBoth(bytes: Uint8Array): unknown {
  const fast = decodeSmall(bytes, 0, bytes.byteLength);
  expect(fast).not.toBe(NOT_SMALL);
  expect(fast).toEqual(decodeRange(bytes, 0, bytes.byteLength, true));
  return fast;
}

describe("small-value decoder", () => {
  it("decodes what either encoder wrote, as msgpackr's plain form does", () => {
    const values: unknown[] = [
      { seq: 12345, op: "ping", values: [1, 2, 3], ok: true },
      { seq: 12345, op: "pong", values: [4, 5], ok: false }, // same keys again: from the key cache
      [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31)],
      [0.5, -2.25, 1e300, Infinity, -Infinity],
      ["", "abcd", "abcdefgh", "abcdefghi", "x".repeat(40), "y".repeat(300), "héllo ✓ 🚀", "\ufeffbom"],
      { "a much longer key than the cache keeps, over twenty-four bytes": 1, ünï: { nested: [null, true] } },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    ];
    for (const value of values) {
      expect(decodedBoth(encodeAs(value, true))).toEqual(value);
      expect(decodedBoth(Uint8Array.from(encodeSmall(value)!))).toEqual(value);
    }
  });

  it("decodes a range inside a larger buffer", () => {
    const payload = encodeAs({ a: [1, "b"] }, true);
    const framed = new Uint8Array(payload.byteLength + 7);
    framed.set(payload, 5);
    expect(decodeSmall(framed, 5, 5 + payload.byteLength)).toEqual({ a: [1, "b"] });
  });

  it("leaves anything outside its subset or malformed to msgpackr", () => {
    const outside = [
      encodeAs(new Date(0), true),
      encodeAs(new Uint8Array([1]), true),
      encodeAs(2n ** 40n, true),
      encodeAs([undefined], true),
      encodeAs({ 1: "numeric key" }, false), // a record-form frame
      Uint8Array.from([0x81, 0x01, 0x02]), // a map with an integer key
      Uint8Array.from([0x81, 0xa9, ...Buffer.from("__proto__"), 0xc0]),
      Uint8Array.from([0xa3, 0x61, 0x62]), // truncated string
      Uint8Array.from([0x92, 0x01]), // truncated array
      Uint8Array.from([0x01, 0x02]), // trailing byte
      Uint8Array.from([0xa2, 0xc3, 0x28]), // malformed UTF-8
      Uint8Array.from([0xc1]), // reserved
      Uint8Array.from([]),
    ];
    for (const bytes of outside) expect(decodeSmall(bytes, 0, bytes.byteLength)).toBe(NOT_SMALL);
  });

  it("gives up on more nested objects and arrays than its budget", () => {
    const deep = encodeAs(Array.from({ length: SMALL_NODE_BUDGET }, () => []), true);
    expect(decodeSmall(deep, 0, deep.byteLength)).toBe(NOT_SMALL);
  });
});
