import { afterEach, describe, expect, it } from "vitest";
import { linkPair } from "./memory-link.ts";
import { RpcPeer } from "./peer.ts";
import { streamLink } from "./stream-link.ts";
import { testDispatcher } from "./test-dispatcher.ts";
import { waitUntil } from "../../test/helpers.ts";
import type { Dispatcher } from "./types.ts";

const peers: RpcPeer[] = [];
afterEach(() => {
  for (const peer of peers.splice(0)) peer.close();
});

/**
 * An outer link whose serving side accepts inner links over `Outer.accept` and serves the test
 * dispatcher on them; returns a peer for a fresh inner link from the calling side.
 */
function outerPair() {
  const { dispatcher: inner, log } = testDispatcher();
  const served: RpcPeer[] = [];
  const heads: unknown[] = [];
  const outerDispatcher: Dispatcher = {
    async dispatch(method, arg, ctx) {
      if (method !== "Outer.accept") throw new Error(`no method ${method}`);
      const iterator = (arg as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      heads.push((await iterator.next()).value);
      const end = streamLink();
      ctx.signal.addEventListener("abort", () => end.link.close());
      end.connect({ [Symbol.asyncIterator]: () => iterator });
      const peer = new RpcPeer(end.link, { dispatcher: inner });
      served.push(peer);
      peers.push(peer);
      return end.outgoing;
    },
  };
  const [a, b] = linkPair();
  const outerCaller = new RpcPeer(a);
  const outerCallee = new RpcPeer(b, { dispatcher: outerDispatcher });
  peers.push(outerCaller, outerCallee);
  const dialInner = async (head: unknown) => {
    const end = streamLink(head);
    const reply = await outerCaller.call<AsyncIterable<unknown>>("Outer.accept", end.outgoing);
    end.connect(reply);
    const peer = new RpcPeer(end.link, { label: "inner" });
    peers.push(peer);
    return peer;
  };
  return { dialInner, served, heads, log, outerCaller, outerCallee };
}

describe("streamLink", () => {
  it("carries a whole RPC link inside one call's two streams, head first", async () => {
    const { dialInner, heads } = outerPair();
    const inner = await dialInner({ addr: "machine-b" });
    expect(await inner.call("T.echo", { x: 1 })).toEqual({ x: 1 });
    expect(heads).toEqual([{ addr: "machine-b" }]);
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => inner.call("T.echo", i)));
    expect(all).toEqual([...Array(50).keys()]);
    const stream = await inner.call<AsyncIterable<number>>("T.count", { n: 300 });
    const items: number[] = [];
    for await (const item of stream) items.push(item);
    expect(items).toEqual([...Array(300).keys()]);
    expect(await inner.call("T.sum", (async function* () { for (let i = 1; i <= 10; i++) yield i; })())).toBe(55);
  });

  it("ends the far side's peer when this side closes, and fails this side's calls when the outer link drops", async () => {
    const { dialInner, served, outerCaller } = outerPair();
    const inner = await dialInner("head");
    await inner.call("T.echo", 1);
    inner.close();
    await waitUntil("the served inner peer to close", () => served[0].isClosed);

    const second = await dialInner("head");
    const hanging = second.call("T.hang", undefined);
    outerCaller.close();
    await expect(hanging).rejects.toMatchObject({ kind: "net" });
  });
});
