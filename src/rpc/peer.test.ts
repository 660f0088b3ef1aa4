import { afterEach, describe, expect, it } from "vitest";
import { BigmachineError, isKind } from "../errors.ts";
import { deadlines } from "./deadlines.ts";
import { frameValue } from "./frames.ts";
import { PLAIN_VALUE } from "./protocol.ts";
import { linkPair } from "./memory-link.ts";
import { RpcPeer, type RpcPeerOptions } from "./peer.ts";
import { RpcServer } from "./server.ts";
import { testDispatcher } from "./test-dispatcher.ts";
import { rejection, waitUntil } from "../../test/helpers.ts";
import type { Link } from "./types.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function connected(options: { client?: RpcPeerOptions; serverMaxBytes?: number } = {}) {
  const { dispatcher, log } = testDispatcher();
  const server = new RpcServer({ dispatcher, maxMessageBytes: options.serverMaxBytes });
  const [clientLink, serverLink] = linkPair();
  const serverPeer = server.accept(serverLink);
  const client = new RpcPeer(clientLink, { label: "m1", ...options.client });
  cleanups.push(() => {
    client.close();
    server.close();
  });
  return { client, server, serverPeer, log, clientLink, serverLink };
}

describe("RpcPeer calls over an in-memory link", () => {
  it("returns values with their types intact", async () => {
    const { client } = connected();
    const value = { when: new Date(5), big: 2n ** 64n, map: new Map([["a", new Uint8Array([1, 2])]]) };
    expect(await client.call("T.echo", value)).toEqual(value);
    expect(await client.call("T.echo", undefined)).toBeUndefined();
  });

  it("runs many calls concurrently and matches each reply to its call", async () => {
    const { client } = connected();
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => client.call("T.echo", i)));
    expect(replies).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it("wraps a method's error as remote, keeping kind, message and severity in the cause", async () => {
    const { client } = connected();
    const err = await rejection(client.call("T.fail", { kind: "precondition", message: "not now", severity: "retriable" }));
    expect(err.kind).toBe("remote");
    expect(err.severity).toBe("retriable");
    expect(err.message).toContain("not now");
    const cause = err.cause as BigmachineError;
    expect(cause.kind).toBe("precondition");
    expect(cause.message).toBe("not now");
    expect(isKind(err, "precondition")).toBe(true);
    expect(isKind(err, "net")).toBe(false);
  });

  it("answers methods that return at once, throw at once, or return a thenable", async () => {
    const dispatcher = {
      dispatch(method: string, arg: unknown) {
        if (method === "S.now") return { got: arg };
        if (method === "S.thenable") return { then: (resolve: (v: unknown) => void) => resolve(`later ${arg}`) };
        if (method === "S.notThenable") return { then: 1 };
        throw new Error(`sync ${method}`);
      },
    };
    const server = new RpcServer({ dispatcher });
    const [clientLink, serverLink] = linkPair();
    server.accept(serverLink);
    const client = new RpcPeer(clientLink);
    cleanups.push(() => {
      client.close();
      server.close();
    });
    expect(await client.call("S.now", 7)).toEqual({ got: 7 });
    expect(await client.call("S.thenable", 8)).toBe("later 8");
    expect(await client.call("S.notThenable", null)).toEqual({ then: 1 });
    const err = await rejection(client.call("S.boom", null));
    expect(err.kind).toBe("remote");
    expect(err.message).toContain("sync S.boom");
    expect(await client.call("S.now", 9)).toEqual({ got: 9 }); // the peer keeps serving
    expect(server.stats()["S.boom"]).toMatchObject({ count: 1, errors: 1 });
    expect(server.stats()["S.now"]).toMatchObject({ count: 2, errors: 0 });
  });

  it("aborts the signal of a call whose link closes while its method is starting", async () => {
    let serverPeer: RpcPeer | undefined;
    let seen: AbortSignal | undefined;
    const dispatcher = {
      dispatch(_method: string, _arg: unknown, ctx: { signal: AbortSignal }) {
        serverPeer!.close("going away");
        seen = ctx.signal;
        return new Promise(() => {}); // never settles: only the close can end it
      },
    };
    const server = new RpcServer({ dispatcher });
    const [clientLink, serverLink] = linkPair();
    serverPeer = server.accept(serverLink);
    const client = new RpcPeer(clientLink);
    cleanups.push(() => client.close());
    const err = await rejection(client.call("S.slow", null));
    expect(err.kind).toBe("net");
    expect(seen?.aborted).toBe(true);
    expect(serverPeer.load.serving).toBe(0);
  });

  it("normalizes plain thrown errors", async () => {
    const { client } = connected();
    const err = await rejection(client.call("T.throwPlain", null));
    expect(err.kind).toBe("remote");
    expect((err.cause as BigmachineError).kind).toBe("other");
    expect(err.message).toContain("plain failure");
  });

  it("reports an unknown method as remote not-exist, from the dispatcher", async () => {
    const { client } = connected();
    const err = await rejection(client.call("T.nope", 1));
    expect(err.kind).toBe("remote");
    expect(isKind(err, "not-exist")).toBe(true);
    expect(err.severity).toBe("fatal");
  });

  it("serves calls in both directions over one link", async () => {
    const { dispatcher } = testDispatcher();
    const [a, b] = linkPair();
    const left = new RpcPeer(a, { dispatcher });
    const right = new RpcPeer(b, { dispatcher });
    cleanups.push(() => left.close());
    expect(await left.call("T.echo", "from left")).toBe("from left");
    expect(await right.call("T.echo", "from right")).toBe("from right");
  });

  it("answers not-supported when this end serves no calls", async () => {
    const [a, b] = linkPair();
    const left = new RpcPeer(a);
    new RpcPeer(b); // no dispatcher
    cleanups.push(() => left.close());
    const err = await rejection(left.call("T.echo", 1));
    expect(isKind(err, "not-supported")).toBe(true);
  });

  it("cancels: the caller rejects canceled and the far side's signal aborts", async () => {
    const { client, log, server } = connected();
    const controller = new AbortController();
    const call = client.call("T.hang", null, { signal: controller.signal });
    await waitUntil("the call to arrive", () => log.calls.get("T.hang") === 1);
    controller.abort();
    const err = await rejection(call);
    expect(err.kind).toBe("canceled");
    await waitUntil("the far side to abort", () => log.aborted.length === 1);
    expect(isKind(log.aborted[0].reason, "canceled")).toBe(true);
    await waitUntil("the far side to forget the call", () => [...server.peers][0].load.serving === 0);
    expect(client.load.calling).toBe(0);
  });

  it("rejects at once when the signal is already aborted, sending nothing", async () => {
    const { client, log } = connected();
    const err = await rejection(client.call("T.echo", 1, { signal: AbortSignal.abort() }));
    expect(err.kind).toBe("canceled");
    expect(log.calls.size).toBe(0);
  });

  it("times out with kind timeout and cancels the far side", async () => {
    const { client, log } = connected();
    const err = await rejection(client.call("T.hang", null, { timeoutMs: 30 }));
    expect(err.kind).toBe("timeout");
    expect(err.temporary).toBe(true);
    expect(err.message).toContain("m1");
    await waitUntil("the far side to abort", () => log.aborted.length === 1);
    expect(isKind(log.aborted[0].reason, "canceled")).toBe(true);
    expect(deadlines.size).toBe(0);
  });

  it("clears deadlines of calls that settle in time", async () => {
    const { client } = connected();
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.call("T.echo", i, { timeoutMs: 60_000 })));
    expect(deadlines.size).toBe(0);
  });

  it("fails pending calls with a temporary net error when the link drops, and aborts the far side", async () => {
    const { client, log, serverLink } = connected();
    const call = client.call("T.hang", null);
    await waitUntil("the call to arrive", () => log.calls.get("T.hang") === 1);
    serverLink.close("dropped");
    const err = await rejection(call);
    expect(err.kind).toBe("net");
    expect(err.severity).toBe("temporary");
    await waitUntil("the far side to abort", () => log.aborted.length === 1);
    expect(isKind(log.aborted[0].reason, "net")).toBe(true);
    expect(await client.closed).toBeUndefined();
    expect(client.isClosed).toBe(true);
    const later = await rejection(client.call("T.echo", 1));
    expect(later.kind).toBe("net");
    expect(later.temporary).toBe(true);
  });

  it("fails pending calls when the peer itself is closed", async () => {
    const { client } = connected();
    const call = client.call("T.hang", null);
    client.close("going away");
    const err = await rejection(call);
    expect(err.kind).toBe("net");
    expect(err.message).toContain("going away");
  });

  it("refuses an oversized argument before sending it", async () => {
    const { client, log } = connected({ client: { maxMessageBytes: 1024 } });
    const err = await rejection(client.call("T.echo", new Uint8Array(2048)));
    expect(err.kind).toBe("invalid");
    expect(log.calls.size).toBe(0);
    expect(await client.call("T.echo", new Uint8Array(100))).toEqual(new Uint8Array(100));
  });

  it("answers a call over the receiver's limit with invalid and keeps serving", async () => {
    const { client, log } = connected({ serverMaxBytes: 1024 });
    const err = await rejection(client.call("T.echo", new Uint8Array(4096)));
    expect(err.kind).toBe("remote");
    expect(isKind(err, "invalid")).toBe(true);
    expect(log.calls.size).toBe(0);
    expect(await client.call("T.echo", 5)).toBe(5);
  });

  it("fails a call whose reply is over the callee's limit", async () => {
    const { client } = connected({ serverMaxBytes: 1024 });
    const err = await rejection(client.call("T.big", 4096));
    expect(isKind(err, "invalid")).toBe(true);
    expect(await client.call("T.big", 10)).toEqual(new Uint8Array(10));
  });

  it("fails a call whose reply is over the caller's limit", async () => {
    const { client } = connected({ client: { maxMessageBytes: 1024 } });
    const err = await rejection(client.call("T.big", 4096));
    expect(err.kind).toBe("invalid");
    expect(await client.call("T.big", 10)).toEqual(new Uint8Array(10));
  });

  it("refuses an over-long method name", async () => {
    const { client } = connected();
    const err = await rejection(client.call(`T.${"x".repeat(300)}`, 1));
    expect(err.kind).toBe("invalid");
  });

  it("injects network faults before sending", async () => {
    const { client, log } = connected();
    client.faults.failNext(2);
    for (let i = 0; i < 2; i++) {
      const err = await rejection(client.call("T.echo", i));
      expect(err.kind).toBe("net");
      expect(err.severity).toBe("temporary");
    }
    expect(await client.call("T.echo", 3)).toBe(3);
    expect(log.calls.get("T.echo")).toBe(1);
    client.faults.setFailureRate(1);
    expect((await rejection(client.call("T.echo", 4))).kind).toBe("net");
    client.faults.reset();
    expect(await client.call("T.echo", 5)).toBe(5);
    expect(() => client.faults.setFailureRate(2)).toThrow(/probability/);
  });

  it("counts calls, errors and bytes on both sides", async () => {
    const { client, server } = connected();
    await client.call("T.echo", "x".repeat(100));
    await client.call("T.echo", 1);
    await client.call("T.nope", 1).catch(() => {});
    const out = client.stats();
    expect(out["T.echo"].count).toBe(2);
    expect(out["T.echo"].errors).toBe(0);
    expect(out["T.echo"].bytesOut).toBeGreaterThan(100);
    expect(out["T.echo"].bytesIn).toBeGreaterThan(100);
    expect(out["T.nope"]).toMatchObject({ count: 1, errors: 1 });
    const served = server.stats();
    expect(served["T.echo"].count).toBe(2);
    expect(served["T.nope"]).toMatchObject({ count: 1, errors: 1 });
    const latency = out["T.echo"].latencyMs;
    expect(latency.max).toBeGreaterThanOrEqual(latency.p50);
    expect(latency.mean).toBeGreaterThan(0);
  });
});

describe("RpcPeer with a misbehaving far side", () => {
  // A raw link end that speaks frames by hand to a serving peer.
  function rawClient() {
    const { dispatcher, log } = testDispatcher();
    const [raw, served] = linkPair();
    const peer = new RpcPeer(served, { dispatcher, maxMessageBytes: 1024 });
    const frames: Uint8Array[] = [];
    let closed = false;
    raw.onFrame((frame) => frames.push(frame));
    raw.onClose(() => (closed = true));
    cleanups.push(() => peer.close());
    return { raw, peer, log, frames, isClosed: () => closed };
  }

  const callFrameBytes = async (id: number, method: string, payload: Uint8Array) => {
    const { callFrame, methodBytes } = await import("./frames.ts");
    return callFrame(id, 0, methodBytes(method), payload);
  };

  it("answers a CALL whose argument does not decode with invalid, and keeps serving", async () => {
    const { raw, frames, isClosed, peer } = rawClient();
    const { encode } = await import("./codec.ts");
    raw.send(await callFrameBytes(7, "T.echo", new Uint8Array([0x92, 1])));
    raw.send(await callFrameBytes(8, "T.echo", encode("fine")));
    await waitUntil("two answers", () => frames.length === 2);
    expect(frames[0][0] & ~PLAIN_VALUE).toBe(0x83); // ERROR from the callee
    const wire = frameValue(frames[0], 5) as { kind: string };
    expect(wire.kind).toBe("invalid");
    expect(frames[1][0] & ~PLAIN_VALUE).toBe(0x82); // REPLY
    expect(frameValue(frames[1], 5)).toBe("fine");
    expect(isClosed()).toBe(false);
    expect(peer.isClosed).toBe(false);
  });

  it("answers an oversized CALL frame with invalid", async () => {
    const { raw, frames } = rawClient();
    raw.send(await callFrameBytes(9, "T.echo", new Uint8Array(4096)));
    await waitUntil("an answer", () => frames.length === 1);
    expect((frameValue(frames[0], 5) as { kind: string }).kind).toBe("invalid");
  });

  it("ignores frames for unknown calls", async () => {
    const { raw, frames, isClosed } = rawClient();
    raw.send(new Uint8Array([9, 0, 0, 0, 42])); // CANCEL of a call that does not exist
    raw.send(new Uint8Array([0x82, 0, 0, 0, 42, 1])); // REPLY to a call never made
    await new Promise((r) => setTimeout(r, 5));
    expect(frames).toHaveLength(0);
    expect(isClosed()).toBe(false);
  });

  for (const [name, frame] of [
    ["a frame shorter than a header", [1, 0, 0]],
    ["an unknown frame kind", [0x7f, 0, 0, 0, 1]],
    ["a kind sent in the wrong direction", [2, 0, 0, 0, 1, 0xc0]],
    ["a truncated CALL frame", [1, 0, 0, 0, 1, 0, 200, 65]],
  ] as const) {
    it(`closes only that link on ${name}`, async () => {
      const { raw, peer, isClosed } = rawClient();
      const other = connected();
      raw.send(new Uint8Array(frame));
      const err = await peer.closed;
      expect(err).toBeInstanceOf(BigmachineError);
      expect(err?.message).toMatch(/protocol error/);
      await waitUntil("the raw end to see the close", isClosed);
      expect(await other.client.call("T.echo", "still serving")).toBe("still serving");
    });
  }
});

describe("RpcPeer link plumbing", () => {
  it("resolves closed with the link's error when the link fails", async () => {
    let onClose: ((err?: Error) => void) | undefined;
    const link: Link = {
      send() {},
      bufferedAmount: 0,
      onFrame() {},
      onClose(handler) {
        onClose = handler;
      },
      close() {},
    };
    const peer = new RpcPeer(link, { label: "m9" });
    const call = peer.call("T.echo", 1);
    onClose!(new Error("connection reset"));
    expect((await peer.closed)?.message).toBe("connection reset");
    const err = await rejection(call);
    expect(err.kind).toBe("net");
    expect(err.message).toMatch(/m9.*connection reset/);
  });
});
