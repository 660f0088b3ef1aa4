import { describe, expect, it } from "vitest";
import { BigmachineError, isKind } from "../errors.ts";
import { decode, decodeRange, encode, encodeAs, isPlainValue } from "./codec.ts";

const roundTrip = (value: unknown) => decode(encode(value));

describe("codec", () => {
  it("round-trips Map, Set, Date, BigInt and typed arrays, nested", () => {
    const value = {
      map: new Map<unknown, unknown>([[1, "one"], ["k", { deep: new Map([["x", [1, 2n]]]) }]]),
      set: new Set(["a", "b"]),
      date: new Date(1_700_000_000_123),
      big: 123456789012345678901234567890n,
      negBig: -(2n ** 70n),
      bytes: new Uint8Array([0, 1, 254, 255]),
      floats: new Float64Array([1.5, -2.25]),
      ints: new Int32Array([-1, 2 ** 30]),
      nested: [{ a: [undefined, null, true, "s", 1.25] }],
      emptyObject: {},
    };
    expect(roundTrip(value)).toEqual(value);
    const got = roundTrip(value) as typeof value;
    expect(got.map).toBeInstanceOf(Map);
    expect(got.floats).toBeInstanceOf(Float64Array);
    expect(got.date.getTime()).toBe(1_700_000_000_123);
  });

  it("keeps a Map and a plain object apart", () => {
    const got = roundTrip({ plain: { 1: "x" }, map: new Map([[1, "x"]]) }) as { plain: unknown; map: unknown };
    expect(got.plain).not.toBeInstanceOf(Map);
    expect(got.map).toBeInstanceOf(Map);
  });

  it("round-trips errors with their class and message", () => {
    const got = roundTrip({ err: new TypeError("bad type") }) as { err: Error };
    expect(got.err).toBeInstanceOf(TypeError);
    expect(got.err.message).toBe("bad type");
  });

  it("round-trips undefined and top-level scalars", () => {
    for (const value of [undefined, null, 0, -1, 2 ** 53, "", "héllo", true]) expect(roundTrip(value)).toEqual(value);
  });

  it("rejects garbage with kind invalid", () => {
    for (const bytes of [[], [0xc1], [0x92, 1], [0xdd, 0xff, 0xff], [1, 2, 3]]) {
      let err: unknown;
      try {
        decode(new Uint8Array(bytes));
      } catch (e) {
        err = e;
      }
      expect(err, `bytes ${bytes}`).toBeInstanceOf(BigmachineError);
      expect(isKind(err, "invalid")).toBe(true);
    }
  });

  it("decodes a range inside a larger buffer", () => {
    const value = encode({ x: 1 });
    const framed = new Uint8Array(value.byteLength + 4);
    framed.set(value, 3);
    expect(decodeRange(framed, 3, 3 + value.byteLength)).toEqual({ x: 1 });
    expect(() => decodeRange(framed, 3, framed.byteLength)).toThrow(/malformed/);
  });

  it("refuses values it cannot encode with kind invalid", () => {
    let err: unknown;
    try {
      encode({ get boom(): never { throw new Error("getter failed"); } });
    } catch (e) {
      err = e;
    }
    expect(isKind(err, "invalid")).toBe(true);
  });
});

describe("codec plain form", () => {
  it("is used only for values it carries exactly", () => {
    expect(isPlainValue({ a: [1, "x", { b: new Date(1), c: new Uint8Array(2), d: new Float32Array(1) }], e: null })).toBe(true);
    expect(isPlainValue({ a: new Map() })).toBe(false);
    expect(isPlainValue([new Set([1])])).toBe(false);
    expect(isPlainValue({ instance: new (class Point { x = 1 })() })).toBe(false);
    expect(isPlainValue(Object.create(null))).toBe(false);
    expect(isPlainValue(Array.from({ length: 1000 }, (_, i) => ({ i })))).toBe(false); // too large to check
    expect(isPlainValue("s")).toBe(true);
  });

  it("round-trips plain values in the plain form", () => {
    const value = { a: [1, "x", { b: new Date(1), c: new Uint8Array([1, 2]) }], n: 10n, u: undefined };
    const bytes = encodeAs(value, true);
    expect(decodeRange(bytes, 0, bytes.byteLength, true)).toEqual(value);
  });
});
