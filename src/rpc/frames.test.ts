import { describe, expect, it } from "vitest";
import { callFrame, callMethod, callPayloadStart, methodBytes } from "./frames.ts";

const methodOf = (frame: Uint8Array) => callMethod(frame, callPayloadStart(frame));

describe("CALL frame method names", () => {
  it("reads back every name, also when names of one length and last byte alternate", () => {
    // Same length and last byte: they share a slot of the recent-names cache.
    const names = ["Svc.aa", "Svc.ba", "Svc.ca", "Bench.echo", "Bench.echo", "Svc.aa", "Ünï.cødé", "Svc.ba"];
    for (const name of names) {
      const frame = callFrame(1, 0, methodBytes(name), new Uint8Array([0xc0]));
      expect(methodOf(frame)).toBe(name);
      expect(methodOf(Uint8Array.from(frame))).toBe(name); // not a Buffer, as an in-memory link may deliver
    }
  });

  it("is not fooled by a frame changed after a name was cached from it", () => {
    const frame = callFrame(1, 0, methodBytes("Svc.one"), new Uint8Array([0xc0]));
    expect(methodOf(frame)).toBe("Svc.one");
    frame.write("two", frame.indexOf("one"));
    expect(methodOf(frame)).toBe("Svc.two");
  });
});
