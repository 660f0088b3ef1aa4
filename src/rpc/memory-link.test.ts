import { describe, expect, it } from "vitest";
import { linkPair } from "./memory-link.ts";

describe("linkPair", () => {
  it("delivers frames whole, in order, asynchronously, and counts bytes in transit", async () => {
    const [a, b] = linkPair();
    const got: number[] = [];
    b.onFrame((frame) => got.push(frame[0]));
    a.send(new Uint8Array([1, 0, 0]));
    a.send(new Uint8Array([2]));
    expect(got).toEqual([]); // not synchronous
    expect(a.bufferedAmount).toBe(4);
    await Promise.resolve();
    expect(got).toEqual([1, 2]);
    expect(a.bufferedAmount).toBe(0);
  });

  it("holds frames until a receiver is set", async () => {
    const [a, b] = linkPair();
    a.send(new Uint8Array([7]));
    await new Promise((r) => setTimeout(r, 1));
    const got: number[] = [];
    b.onFrame((frame) => got.push(frame[0]));
    await Promise.resolve();
    expect(got).toEqual([7]);
  });

  it("delivers frames sent before a close, then reports the close at both ends", async () => {
    const [a, b] = linkPair();
    const events: string[] = [];
    b.onFrame((frame) => events.push(`b got ${frame[0]}`));
    a.onFrame((frame) => events.push(`a got ${frame[0]}`));
    a.onClose((err) => events.push(`a closed ${err}`));
    b.onClose((err) => events.push(`b closed ${err}`));
    a.send(new Uint8Array([1]));
    b.send(new Uint8Array([2]));
    a.close("done");
    a.send(new Uint8Array([3])); // after close: dropped
    b.send(new Uint8Array([4]));
    a.close(); // idempotent
    await new Promise((r) => setTimeout(r, 1));
    expect(events.sort()).toEqual(["a closed undefined", "a got 2", "b closed undefined", "b got 1"]);
  });

  it("keeps delivering when a receiver throws", async () => {
    const [a, b] = linkPair();
    const got: number[] = [];
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on("uncaughtException", onError);
    try {
      b.onFrame((frame) => {
        got.push(frame[0]);
        if (frame[0] === 1) throw new Error("receiver failed");
      });
      a.send(new Uint8Array([1]));
      a.send(new Uint8Array([2]));
      await new Promise((r) => setTimeout(r, 5));
    } finally {
      process.off("uncaughtException", onError);
    }
    expect(got).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
  });
});
