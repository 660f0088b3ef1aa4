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

  it("looks through other and plain errors to the first kind that says what went wrong", () => {
    const root = errorOf("timeout", "deadline passed");
    const wrapped = errorOf("other", "step failed", { cause: new Error("plain wrapper", { cause: root }) });
    expect(isKind(wrapped, "other")).toBe(true);
    expect(isKind(wrapped, "timeout")).toBe(true);
    expect(isKind(wrapped, "canceled")).toBe(false);
  });

  it("stops at the first kind that is neither other nor remote", () => {
    const lost = errorOf("unavailable", "machine lost", { cause: errorOf("net", "tunnel dropped") });
    expect(isKind(lost, "unavailable")).toBe(true);
    expect(isKind(lost, "net")).toBe(false);
    const invalid = errorOf("invalid", "bad input", { cause: errorOf("not-exist", "no such key") });
    expect(isKind(invalid, "not-exist")).toBe(false);
  });

  it("never finds net through a remote error: net is only ever the immediate call's", () => {
    const farNet = remoteError(errorToWire(errorOf("net", "the machine's own dial failed")), "Svc.m");
    expect(isKind(farNet, "remote")).toBe(true);
    expect(isKind(farNet, "net")).toBe(false);
    // Also when the far side's net error sits behind other kinds that say nothing, or behind a relay.
    const relayed = remoteError(errorToWire(errorOf("remote", "relay", { cause: errorOf("other", "x", { cause: errorOf("net", "dial") }) })), "Relay.m");
    expect(isKind(relayed, "net")).toBe(false);
    // The immediate call's own net error is net, whatever it wraps.
    expect(isKind(errorOf("net", "tunnel dropped", { cause: farNet }), "net")).toBe(true);
    // Every other kind is found through remote errors, nested ones included.
    const nested = remoteError(errorToWire(remoteError(errorToWire(errorOf("not-exist", "no such file")), "B.read")), "A.read");
    expect(isKind(nested, "not-exist")).toBe(true);
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
    expect(isKind(r, "remote")).toBe(true);
    expect((r.cause as BigmachineError).kind).toBe("net");
    expect(isFatal(remoteError(errorToWire(errorOf("invalid", "x", { severity: "fatal" })), "m"))).toBe(true);
  });
});
