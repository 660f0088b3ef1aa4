import { describe, expect, it } from "vitest";
import { decodeRange } from "./codec.ts";
import { encodeSmall, SMALL_MAX_BYTES, SMALL_NODE_BUDGET } from "./small-codec.ts";

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
