import type WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { coalesceWrites } from "./write-coalescer.ts";

/** A stand-in for a `ws` socket whose underlying socket records corks and uncorks. */
function fakeWebSocket() {
  const log: string[] = [];
  const ws = { _socket: { cork: () => log.push("cork"), uncork: () => log.push("uncork") } } as unknown as WebSocket;
  return { ws, log };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("coalesceWrites", () => {
  it("writes a lone frame at once and corks from the second frame of a turn until the turn ends", async () => {
    const { ws, log } = fakeWebSocket();
    const ends: number[] = [];
    const beforeSend = coalesceWrites(ws, () => ends.push(log.length));

    beforeSend();
    expect(log).toEqual([]);
    await nextTurn();
    expect(log).toEqual([]);
    expect(ends).toHaveLength(1);

    beforeSend();
    beforeSend();
    beforeSend();
    expect(log).toEqual(["cork"]);
    await nextTurn();
    expect(log).toEqual(["cork", "uncork"]);
    // The end-of-turn callback runs once per turn with sends, after the uncork.
    expect(ends).toEqual([0, 2]);

    await nextTurn();
    expect(ends).toHaveLength(2);
  });

  it("starts every turn afresh: the first frame of a later turn is written at once", async () => {
    const { ws, log } = fakeWebSocket();
    const beforeSend = coalesceWrites(ws);
    beforeSend();
    beforeSend();
    await Promise.resolve();
    await nextTurn();
    beforeSend();
    expect(log).toEqual(["cork", "uncork"]);
  });
});
