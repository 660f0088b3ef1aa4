import { afterEach, describe, expect, it } from "vitest";
import { errorOf } from "../errors.ts";
import { linkPair } from "./memory-link.ts";
import { RpcPeer } from "./peer.ts";
import { ResumableLink, type ResumableLinkOptions } from "./resumable-link.ts";
import { testDispatcher } from "./test-dispatcher.ts";
import { rejection, waitUntil } from "../../test/helpers.ts";
import type { Dispatcher, Link } from "./types.ts";

const peers: RpcPeer[] = [];
afterEach(() => {
  for (const peer of peers.splice(0)) peer.close();
});

/** A carrier pair whose `drop()` closes both ends, as a dropped connection does. */
function carriers(): { a: Link; b: Link; drop(): void } {
  const [a, b] = linkPair();
  return { a, b, drop: () => a.close() };
}

/** Two resumable ends with an RPC peer on each; `reconnect()` gives them a fresh carrier. */
function resumablePair(options: { dispatcher?: Dispatcher; link?: ResumableLinkOptions } = {}) {
  const { dispatcher, log } = testDispatcher();
  const client = new ResumableLink({ label: "client", ...options.link });
  const server = new ResumableLink({ label: "server", ...options.link });
  const caller = new RpcPeer(client, { label: "machine" });
  const callee = new RpcPeer(server, { dispatcher: options.dispatcher ?? dispatcher });
  peers.push(caller, callee);
  let current = carriers();
  const reconnect = async () => {
    current = carriers();
    await Promise.all([client.attach(current.a), server.attach(current.b)]);
  };
  const drop = () => current.drop();
  return { client, server, caller, callee, log, reconnect, drop };
}

/** A dispatcher whose `S.slow` waits for `release()` and counts its runs. */
function gatedDispatcher() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const runs = { slow: 0 };
  const dispatcher: Dispatcher = {
    async dispatch(method, arg) {
      if (method === "S.slow") {
        runs.slow++;
        await released;
        return { done: arg };
      }
      if (method === "S.count") {
        return (async function* () {
          for (let i = 0; i < (arg as number); i++) {
            yield i;
            if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
          }
        })();
      }
      throw errorOf("not-exist", `no method ${method}`);
    },
  };
  return { dispatcher, release, runs };
}

describe("ResumableLink", () => {
  it("carries calls both ways once both ends have resumed", async () => {
    const { caller, reconnect, client, server } = resumablePair();
    await reconnect();
    expect(client.state).toBe("attached");
    expect(await caller.call("T.echo", { hello: 1 })).toEqual({ hello: 1 });
    expect(await Promise.all(Array.from({ length: 100 }, (_, i) => caller.call("T.echo", i)))).toEqual([...Array(100).keys()]);
    expect(client.counts.sent).toBe(101);
    expect(server.counts.received).toBe(101);
  });

  it("finishes a call in flight at a drop once a new carrier is attached, running it once", async () => {
    const gate = gatedDispatcher();
    const { caller, reconnect, drop, client } = resumablePair({ dispatcher: gate.dispatcher });
    await reconnect();
    const pending = caller.call("S.slow", "payload");
    await waitUntil("the call to start", () => gate.runs.slow === 1);
    drop();
    await waitUntil("the drop to be seen", () => client.state === "detached");
    gate.release(); // the reply is produced while no carrier is up
    await new Promise((r) => setTimeout(r, 30));
    await reconnect();
    expect(await pending).toEqual({ done: "payload" });
    expect(gate.runs.slow).toBe(1);
  });

  it("queues calls made while detached and delivers them after the resume", async () => {
    const { caller, reconnect, drop, client } = resumablePair();
    await reconnect();
    drop();
    await waitUntil("the drop to be seen", () => client.state === "detached");
    const replies = Promise.all([caller.call("T.echo", "a"), caller.call("T.echo", "b")]);
    expect(client.bufferedAmount).toBeGreaterThan(0);
    await reconnect();
    expect(await replies).toEqual(["a", "b"]);
  });

  it("keeps a stream in order, with nothing lost or repeated, across three drops", async () => {
    const gate = gatedDispatcher();
    const { caller, reconnect, drop } = resumablePair({ dispatcher: gate.dispatcher, link: { ackEveryFrames: 7, ackDelayMs: 5 } });
    await reconnect();
    const stream = await caller.call<AsyncIterable<number>>("S.count", 2000);
    const seen: number[] = [];
    let drops = 0;
    for await (const item of stream) {
      seen.push(item);
      if (item % 500 === 250 && drops < 3) {
        drops++;
        drop();
        await new Promise((r) => setTimeout(r, 10));
        await reconnect();
      }
    }
    expect(drops).toBe(3);
    expect(seen).toEqual([...Array(2000).keys()]);
  });

  it("streams an argument across drops, nothing lost or repeated", async () => {
    const { caller, reconnect, drop, log } = resumablePair();
    await reconnect();
    async function* numbers() {
      for (let i = 1; i <= 600; i++) {
        if (i % 200 === 0) {
          drop();
          await new Promise((r) => setTimeout(r, 5));
          void reconnect();
        }
        yield i;
      }
    }
    expect(await caller.call("T.sum", numbers())).toBe((600 * 601) / 2);
    expect(log.consumed).toBe(600);
  });

  it("forgets acknowledged frames, so memory stays bounded", async () => {
    const { caller, reconnect, client, server } = resumablePair({ link: { ackEveryFrames: 4, ackDelayMs: 5 } });
    await reconnect();
    for (let i = 0; i < 50; i++) await caller.call("T.echo", new Uint8Array(10_000));
    await waitUntil("everything to be acknowledged", () => client.counts.unacked === 0 && server.counts.unacked === 0);
    expect(client.bufferedAmount).toBe(0);
  });

  it("fails with a clear error when more than the bound waits for acknowledgement", async () => {
    const { caller, reconnect, drop, client } = resumablePair({ link: { maxUnackedBytes: 64 * 1024 } });
    await reconnect();
    drop();
    await waitUntil("the drop to be seen", () => client.state === "detached");
    const first = caller.call("T.echo", new Uint8Array(40_000));
    const second = caller.call("T.echo", new Uint8Array(40_000));
    const err = await rejection(second);
    expect(err.kind).toBe("net");
    expect(err.message).toMatch(/more than 65536 bytes sent and not acknowledged/);
    expect((await rejection(first)).kind).toBe("net");
    expect(client.state).toBe("closed");
  });

  it("ends both sides cleanly on close, without waiting for a resume", async () => {
    const { client, server, caller, callee, reconnect } = resumablePair();
    await reconnect();
    let detached = false;
    server.onDetach(() => (detached = true));
    caller.close("done");
    expect(await callee.closed).toBeUndefined();
    expect(server.state).toBe("closed");
    expect(client.state).toBe("closed");
    expect(detached).toBe(false);
  });

  it("fails when the far end claims frames that were never sent", async () => {
    const link = new ResumableLink({ label: "m" });
    const closed = new Promise<Error | undefined>((resolve) => link.onClose(resolve));
    const [mine, theirs] = linkPair();
    theirs.onFrame(() => {});
    void link.attach(mine).catch(() => {});
    const resume = Buffer.alloc(8);
    resume[1] = 1;
    resume.writeUIntBE(5, 2, 6);
    theirs.send(resume);
    const err = await closed;
    expect(err?.message).toMatch(/received 5 frames, but 0 were acknowledged and 0 sent/);
  });

  it("fails on a data frame before the far end's RESUME", async () => {
    const link = new ResumableLink();
    const closed = new Promise<Error | undefined>((resolve) => link.onClose(resolve));
    const [mine, theirs] = linkPair();
    theirs.onFrame(() => {});
    void link.attach(mine).catch(() => {});
    theirs.send(Uint8Array.of(1, 0, 0, 0, 1));
    expect((await closed)?.message).toMatch(/data frame arrived before the far end's RESUME/);
  });

  it("lets its owner fail it, ending calls with the owner's error", async () => {
    const gate = gatedDispatcher();
    const { caller, reconnect, drop, client } = resumablePair({ dispatcher: gate.dispatcher });
    await reconnect();
    const pending = caller.call("S.slow", 1);
    drop();
    client.fail(errorOf("unavailable", "lost: no carrier for 60 s"));
    const err = await rejection(pending);
    expect(err.message).toMatch(/lost: no carrier for 60 s/);
    await expect(client.attach(linkPair()[0])).rejects.toMatchObject({ kind: "net" });
  });

  it("reports a rotation (detach) to its owner, who attaches the next carrier", async () => {
    const { client, caller, reconnect } = resumablePair();
    await reconnect();
    const detaches: (Error | undefined)[] = [];
    client.onDetach((err) => detaches.push(err));
    const pending = caller.call("T.echo", "across");
    client.detach("rotating");
    await reconnect();
    expect(await pending).toBe("across");
    expect(detaches).toEqual([undefined]);
  });
});

/** Wraps `link` as a tunnel's link behaves: frames that came early are handed over within `onFrame`. */
function holdingCarrier(link: Link): Link {
  let handler: ((frame: Uint8Array) => void) | undefined;
  const early: Uint8Array[] = [];
  link.onFrame((frame) => (handler ? handler(frame) : early.push(frame)));
  return {
    send: (frame) => link.send(frame),
    get bufferedAmount() {
      return link.bufferedAmount;
    },
    onFrame: (h) => {
      handler = h;
      for (const frame of early.splice(0)) h(frame);
    },
    onClose: (h) => link.onClose(h),
    close: (reason) => link.close(reason),
  };
}

describe("ResumableLink on a carrier that holds frames until a receiver is set", () => {
  it("sends its RESUME before it resends, even when the far end's RESUME is handed over at once", async () => {
    // A memory pair delivers in a microtask; queue the far end's RESUME before this end attaches.
    const gate = gatedDispatcher();
    const { caller, reconnect, drop, client, server } = resumablePair({ dispatcher: gate.dispatcher });
    await reconnect();
    const pending = caller.call("S.slow", "x");
    await waitUntil("the call to start", () => gate.runs.slow === 1);
    drop();
    await waitUntil("the drop to be seen", () => client.state === "detached" && server.state === "detached");
    gate.release();
    // A call made while detached: the client has frames to resend when the server's RESUME comes.
    const second = caller.call("S.slow", "y");
    await new Promise((r) => setTimeout(r, 20));
    const { a, b } = carriers();
    const held = holdingCarrier(a);
    const serverAttached = server.attach(b);
    // Let the server's RESUME (and its resent reply) reach the carrier before the client takes it.
    await new Promise((r) => setTimeout(r, 10));
    await Promise.all([client.attach(held), serverAttached]);
    expect(await pending).toEqual({ done: "x" });
    expect(await second).toEqual({ done: "y" });
  });
});
