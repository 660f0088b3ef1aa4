/**
 * Handing the session secret over the IPC channel: answered once, to a request only, and every wait
 * settles (no channel, a channel that closes, a parent that never answers).
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { BigmachineError } from "./errors.ts";
import { offerSessionSecret, requestSessionSecret, SECRET_ANSWER_TYPE, SECRET_REQUEST_TYPE } from "./session-secret.ts";
import { rejection } from "../test/helpers.ts";

/** Two ends of a fake IPC channel: what the child sends arrives at the parent, and the other way. */
function channel() {
  const parent = new EventEmitter() as EventEmitter & { send: (m: unknown, cb?: (err: Error | null) => void) => boolean };
  const child = new EventEmitter() as EventEmitter & { send: (...args: unknown[]) => boolean; connected: boolean };
  const toParent: unknown[] = [];
  const toChild: unknown[] = [];
  parent.send = (message, cb) => {
    toChild.push(message);
    setImmediate(() => child.emit("message", message));
    cb?.(null);
    return true;
  };
  child.connected = true;
  child.send = (message: unknown, ...rest: unknown[]) => {
    toParent.push(message);
    setImmediate(() => parent.emit("message", message));
    const cb = rest.find((r) => typeof r === "function") as ((err: Error | null) => void) | undefined;
    cb?.(null);
    return true;
  };
  return { parent, child, toParent, toChild };
}

describe("the session secret over IPC", () => {
  it("is sent only when asked, and only once", async () => {
    const { parent, child, toChild } = channel();
    offerSessionSecret(parent, "the-secret");
    expect(toChild).toEqual([]);
    expect(await requestSessionSecret(5_000, child as never)).toBe("the-secret");
    expect(toChild).toEqual([{ type: SECRET_ANSWER_TYPE, secret: "the-secret" }]);
    // Asking again gets nothing: the answer went to the machine's own start, once.
    const again = requestSessionSecret(50, child as never);
    expect((await rejection(again)).kind).toBe("timeout");
    expect(toChild).toHaveLength(1);
  });

  it("ignores other messages on the channel", async () => {
    const { parent, child, toChild } = channel();
    offerSessionSecret(parent, "s");
    parent.emit("message", { type: "bigmachine:listening", addr: "127.0.0.1:1" });
    parent.emit("message", "not an object");
    expect(toChild).toEqual([]);
    parent.emit("message", { type: SECRET_REQUEST_TYPE });
    expect(toChild).toHaveLength(1);
  });

  it("fails clearly without a channel, when the channel closes, and when no answer comes", async () => {
    const none = await rejection(requestSessionSecret(5_000, { connected: false, send: undefined, on: () => undefined, off: () => undefined } as never));
    expect(none.kind).toBe("precondition");
    const { child } = channel();
    const waiting = requestSessionSecret(5_000, child as never);
    child.emit("disconnect");
    expect((await rejection(waiting)).kind).toBe("unavailable");
    const silent = await rejection(requestSessionSecret(30, channel().child as never));
    expect(silent.kind).toBe("timeout");
    expect(silent.message).toMatch(/within 30 ms/);
  });
});
