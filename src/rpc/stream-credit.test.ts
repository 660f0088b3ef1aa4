/**
 * Flow control enforced by the receiver: a peer that sends stream items past the credit it was granted
 * (a buggy or hostile producer) fails that stream with kind `invalid` instead of making the receiver
 * queue without bound. Honest producers never trip it; that is what the rest of the stream suite shows.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BigmachineError, errorFromWire, isKind } from "../errors.ts";
import { bareFrame, callFrame, encodeFrameValue, encodedFlag, frameId, frameValue, methodBytes, payloadFrame } from "./frames.ts";
import { linkPair } from "./memory-link.ts";
import { RpcPeer } from "./peer.ts";
import { CALL_FLAG_STREAM_ARG, FROM_CALLEE, FrameKind, HEADER_BYTES, KIND_MASK, PLAIN_VALUE, STREAM_WINDOW_BYTES, STREAM_WINDOW_ITEMS } from "./protocol.ts";
import { RpcServer } from "./server.ts";
import { testDispatcher } from "./test-dispatcher.ts";
import { waitUntil } from "../../test/helpers.ts";
import type { Link } from "./types.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A raw end of a link that records every frame it receives: a peer that speaks the protocol by hand. */
function rawEnd(link: Link): { frames: Uint8Array[]; kinds: () => number[] } {
  const frames: Uint8Array[] = [];
  link.onFrame((frame) => frames.push(frame));
  link.onClose(() => {});
  // Kind and direction, without the value-form bit.
  return { frames, kinds: () => frames.map((f) => f[0] & ~PLAIN_VALUE) };
}

function dataFrame(direction: number, id: number, value: unknown): Uint8Array {
  return payloadFrame(FrameKind.DATA | direction | encodedFlag, id, encodeFrameValue(value));
}

describe("credit counted by the receiver", () => {
  it("fails a method's argument stream whose sender ignores credit, and the call answers invalid", async () => {
    const { dispatcher, log } = testDispatcher();
    const server = new RpcServer({ dispatcher });
    const [rogue, serverLink] = linkPair();
    server.accept(serverLink);
    cleanups.push(() => server.close());
    const far = rawEnd(rogue);

    const id = 7;
    rogue.send(callFrame(id, CALL_FLAG_STREAM_ARG, methodBytes("T.sum"), new Uint8Array(0)));
    // Far past the window, without waiting for a single CREDIT frame.
    const sent = STREAM_WINDOW_ITEMS + 100;
    for (let i = 0; i < sent; i++) rogue.send(dataFrame(0, id, 1));

    await waitUntil("the call's error reply", () => far.kinds().includes(FrameKind.ERROR | FROM_CALLEE));
    const errorReply = far.frames.find((f) => (f[0] & ~PLAIN_VALUE) === (FrameKind.ERROR | FROM_CALLEE))!;
    expect(frameId(errorReply)).toBe(id);
    const err = errorFromWire(frameValue(errorReply, HEADER_BYTES));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/credit/);
    // The receiver told the sender to stop, and the method read no more than the window allowed.
    expect(far.kinds()).toContain(FrameKind.CANCEL | FROM_CALLEE);
    expect(log.consumed).toBeLessThanOrEqual(STREAM_WINDOW_ITEMS);
  });

  it("fails a reply stream whose producer ignores credit, after the items within credit", async () => {
    const [clientLink, rogue] = linkPair();
    const client = new RpcPeer(clientLink);
    cleanups.push(() => client.close());
    const far = rawEnd(rogue);

    const call = client.call<AsyncIterable<number>>("T.count", { n: 1 });
    await waitUntil("the call to arrive", () => far.frames.length === 1);
    const id = frameId(far.frames[0]);
    rogue.send(bareFrame(FrameKind.STREAM | FROM_CALLEE, id));
    const stream = await call;
    const sent = STREAM_WINDOW_ITEMS + 100;
    for (let i = 0; i < sent; i++) rogue.send(dataFrame(FROM_CALLEE, id, i));
    await waitUntil("the reader's CANCEL", () => far.kinds().includes(FrameKind.CANCEL));

    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const item of stream) seen.push(item);
    } catch (e) {
      caught = e;
    }
    expect(seen).toEqual(Array.from({ length: STREAM_WINDOW_ITEMS }, (_, i) => i));
    expect(caught).toBeInstanceOf(BigmachineError);
    expect(isKind(caught, "invalid")).toBe(true);
    expect((caught as Error).message).toMatch(/past its credit/);
  });

  it("counts bytes too: a sender past the byte window fails the stream", async () => {
    const [clientLink, rogue] = linkPair();
    const client = new RpcPeer(clientLink);
    cleanups.push(() => client.close());
    const far = rawEnd(rogue);

    const call = client.call<AsyncIterable<Uint8Array>>("T.bytes", {});
    await waitUntil("the call to arrive", () => far.frames.length === 1);
    const id = frameId(far.frames[0]);
    rogue.send(bareFrame(FrameKind.STREAM | FROM_CALLEE, id));
    const stream = await call;
    // Few items, but each a quarter of the byte window: the fifth is past the window's last byte.
    const chunk = new Uint8Array(STREAM_WINDOW_BYTES / 4);
    for (let i = 0; i < 6; i++) rogue.send(payloadFrame(FrameKind.BYTES | FROM_CALLEE, id, chunk));
    await waitUntil("the reader's CANCEL", () => far.frames.some((f) => (f[0] & KIND_MASK) === FrameKind.CANCEL));
    let read = 0;
    await expect(
      (async () => {
        for await (const _ of stream) read++;
      })(),
    ).rejects.toMatchObject({ kind: "invalid" });
    expect(read).toBe(4);
  });
});
