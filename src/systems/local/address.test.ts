import { describe, expect, it } from "vitest";
import { isKind } from "../../core.ts";
import { listeningAddr, listeningMessage } from "./ipc.ts";
import { parseLoopbackAddr } from "./address.ts";

describe("parseLoopbackAddr", () => {
  it("accepts loopback HOST:PORT and maps localhost to 127.0.0.1", () => {
    expect(parseLoopbackAddr("127.0.0.1:4567")).toEqual({ host: "127.0.0.1", port: 4567 });
    expect(parseLoopbackAddr("localhost:0")).toEqual({ host: "127.0.0.1", port: 0 });
  });

  it("refuses other hosts and malformed ports with kind invalid", () => {
    for (const bad of ["10.0.0.1:80", "example.test:80", "127.0.0.1", "127.0.0.1:70000", "local:failed-1", ""]) {
      let err: unknown;
      try {
        parseLoopbackAddr(bad);
      } catch (e) {
        err = e;
      }
      expect(isKind(err, "invalid"), bad).toBe(true);
    }
  });
});

describe("listening message", () => {
  it("round-trips a loopback address and ignores anything else", () => {
    expect(listeningAddr(listeningMessage("127.0.0.1:999"))).toBe("127.0.0.1:999");
    expect(listeningAddr({ type: "bigmachine:listening", addr: "10.1.1.1:80" })).toBeUndefined();
    expect(listeningAddr({ type: "other", addr: "127.0.0.1:1" })).toBeUndefined();
    expect(listeningAddr("127.0.0.1:1")).toBeUndefined();
    expect(listeningAddr(null)).toBeUndefined();
  });
});
