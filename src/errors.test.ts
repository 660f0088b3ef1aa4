import { describe, expect, it } from "vitest";
import { BigmachineError, errorFromWire, errorOf, errorToWire, isFatal, isKind, isTemporary, remoteError, toBigmachineError } from "./errors.ts";

describe("errors", () => {
  it("defaults severity by kind", () => {
    expect(errorOf("net", "x").severity).toBe("temporary");
    expect(errorOf("timeout", "x").temporary).toBe(true);
    expect(errorOf("invalid", "x").severity).toBe("unknown");
    expect(errorOf("invalid", "x", { severity: "fatal" }).temporary).toBe(false);
  });

  it("finds kinds along the cause chain", () => {
    const inner = errorOf("not-exist", "no such file");
    const outer = errorOf("remote", "call failed", { cause: inner });
    expect(isKind(outer, "remote")).toBe(true);
    expect(isKind(outer, "not-exist")).toBe(true);
    expect(isKind(outer, "net")).toBe(false);
    expect(isKind(new Error("plain"), "other")).toBe(false);
  });

  it("normalizes anything thrown", () => {
    expect(toBigmachineError(new TypeError("t")).kind).toBe("other");
    expect(toBigmachineError("str").message).toBe("str");
    const abort = new DOMException("stop", "AbortError");
    expect(toBigmachineError(abort).kind).toBe("canceled");
    const e = errorOf("oom", "m");
    expect(toBigmachineError(e)).toBe(e);
  });

  it("round-trips through the wire form, causes included", () => {
    const err = errorOf("remote", "outer", { severity: "temporary", cause: errorOf("invalid", "inner", { severity: "fatal" }) });
    const back = errorFromWire(JSON.parse(JSON.stringify(errorToWire(err))));
    expect(back).toBeInstanceOf(BigmachineError);
    expect(back.kind).toBe("remote");
    expect(back.severity).toBe("temporary");
    expect((back.cause as BigmachineError).kind).toBe("invalid");
    expect((back.cause as BigmachineError).severity).toBe("fatal");
  });

  it("leaves stacks out of the wire form unless asked for them, causes included", () => {
    const err = errorOf("invalid", "outer", { cause: errorOf("other", "inner", { cause: new TypeError("root") }) });
    const bare = errorToWire(err);
    expect(bare.stack).toBeUndefined();
    expect(bare.cause?.stack).toBeUndefined();
    expect(bare.name).toBe("BigmachineError");
    const withStacks = errorToWire(err, { stacks: true });
    expect(withStacks.stack).toBe(err.stack);
    expect(withStacks.cause?.stack).toBe((err.cause as Error).stack);
    expect(errorToWire(new RangeError("plain"), { stacks: true }).stack).toMatch(/^RangeError: plain\n/);
    expect(errorToWire(new RangeError("plain"))).toEqual({ kind: "other", severity: "unknown", message: "plain", name: "RangeError" });
  });

  it("decodes garbage into a safe error", () => {
    const e = errorFromWire({ kind: "bogus", severity: 7, message: 3 });
    expect(e.kind).toBe("other");
    expect(e.severity).toBe("unknown");
    expect(e.message).toBe("unknown error");
    expect(errorFromWire(null).kind).toBe("other");
  });

  it("wraps far-side errors as remote, keeping kind in the cause and severity on top", () => {
    const r = remoteError(errorToWire(errorOf("net", "far side dial failed")), "Svc.m");
    expect(r.kind).toBe("remote");
    expect(r.message).toBe("Svc.m: far side dial failed");
    expect(isTemporary(r)).toBe(true);
    expect(isKind(r, "net")).toBe(true);
    expect(isFatal(remoteError(errorToWire(errorOf("invalid", "x", { severity: "fatal" })), "m"))).toBe(true);
  });
});
