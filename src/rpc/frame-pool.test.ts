import { describe, expect, it } from "vitest";
import { allocFrame, idleFrameBytes, POOLED_FRAME_BYTES, releaseFrame } from "./frame-pool.ts";

describe("frame pool", () => {
  it("reuses a released large frame of the same size, once", () => {
    const size = POOLED_FRAME_BYTES + 123;
    const first = allocFrame(size);
    expect(first.byteLength).toBe(size);
    const before = idleFrameBytes();
    releaseFrame(first);
    releaseFrame(first); // a second release is ignored
    expect(idleFrameBytes()).toBe(before + size);
    const again = allocFrame(size);
    expect(again).toBe(first);
    const other = allocFrame(size);
    expect(other).not.toBe(first);
    releaseFrame(again);
    releaseFrame(other);
  });

  it("leaves small frames and foreign buffers alone", () => {
    const before = idleFrameBytes();
    const small = allocFrame(100);
    expect(small.byteLength).toBe(100);
    releaseFrame(small);
    releaseFrame(Buffer.alloc(POOLED_FRAME_BYTES * 2));
    expect(idleFrameBytes()).toBe(before);
  });
});
