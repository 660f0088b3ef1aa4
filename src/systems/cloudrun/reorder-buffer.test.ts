/**
 * The reorder buffer puts lines read out of order back in timestamp order, holding each until the
 * reads' clock has passed it by the window, and hands on at once with a window of 0.
 */
import { describe, expect, it } from "vitest";
import { ReorderBuffer } from "./reorder-buffer.ts";

describe("ReorderBuffer", () => {
  it("releases lines in timestamp order once reads have passed them by the window, arrival order for equal stamps", () => {
    const released: string[] = [];
    let readThrough = 1_000;
    const buffer = new ReorderBuffer<string>(100, () => readThrough, (items) => released.push(...items));
    // Read out of order: later-stamped lines first, and two with the same stamp.
    buffer.add([
      { timeMs: 1_003.5, item: "d" },
      { timeMs: 1_001.25, item: "b" },
    ]);
    buffer.add([
      { timeMs: 1_001, item: "a" },
      { timeMs: 1_002, item: "c1" },
      { timeMs: 1_002, item: "c2" },
    ]);
    expect(released).toEqual([]);
    // Reads stalled (a quota): the wall clock moves on, the reads' clock does not, nothing goes out.
    buffer.release();
    expect(released).toEqual([]);
    readThrough = 1_102.5;
    buffer.release();
    expect(released).toEqual(["a", "b", "c1", "c2"]);
    readThrough = 1_200;
    buffer.release();
    expect(released).toEqual(["a", "b", "c1", "c2", "d"]);
    expect(buffer.size).toBe(0);
  });

  it("hands on at once lines the reads have already passed, and everything with a window of 0", () => {
    const released: string[] = [];
    const old = new ReorderBuffer<string>(100, () => 10_000, (items) => released.push(...items));
    old.add([{ timeMs: 1_000, item: "old" }]);
    expect(released).toEqual(["old"]);
    const none = new ReorderBuffer<string>(0, () => 0, (items) => released.push(...items));
    none.add([
      { timeMs: 5, item: "x" },
      { timeMs: 1, item: "y" },
    ]);
    // Even a window of 0 orders what arrives together.
    expect(released).toEqual(["old", "y", "x"]);
  });

  it("flushes what it holds, in order, and clears without releasing", () => {
    const released: string[] = [];
    const buffer = new ReorderBuffer<string>(60_000, () => 0, (items) => released.push(...items));
    buffer.add([
      { timeMs: 2, item: "2" },
      { timeMs: 1, item: "1" },
    ]);
    buffer.flush();
    expect(released).toEqual(["1", "2"]);
    buffer.add([{ timeMs: 3, item: "dropped" }]);
    buffer.clear();
    expect(buffer.size).toBe(0);
    expect(released).toEqual(["1", "2"]);
  });
});
