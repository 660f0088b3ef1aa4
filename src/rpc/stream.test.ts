import { afterEach, describe, expect, it } from "vitest";
import { BigmachineError, isKind } from "../errors.ts";
import { linkPair } from "./memory-link.ts";
import { RpcPeer } from "./peer.ts";
import { HEADER_BYTES, STREAM_WINDOW_BYTES, STREAM_WINDOW_ITEMS } from "./protocol.ts";
import { RpcServer } from "./server.ts";
import { isStreamable } from "./stream.ts";
import { settledValue, testDispatcher } from "./test-dispatcher.ts";
import { waitUntil } from "../../test/helpers.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function connected(maxMessageBytes?: number) {
  const { dispatcher, log } = testDispatcher();
  const server = new RpcServer({ dispatcher, maxMessageBytes });
  const [clientLink, serverLink] = linkPair();
  server.accept(serverLink);
  const client = new RpcPeer(clientLink, { maxMessageBytes });
  cleanups.push(() => {
    client.close();
    server.close();
  });
  return { client, server, log, clientLink, serverLink };
}

async function* numbers(n: number, onYield?: (i: number) => void): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    onYield?.(i);
    yield i;
  }
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

describe("isStreamable", () => {
  it("streams async iterables only", () => {
    expect(isStreamable(numbers(1))).toBe(true);
    for (const value of ["s", [1], new Map(), new Uint8Array(1), { a: 1 }, null, undefined, 5]) expect(isStreamable(value)).toBe(false);
  });
});

describe("streams over an in-memory link", () => {
  it("streams a reply: the call resolves to an async iterable of every item", async () => {
    const { client } = connected();
    const stream = await client.call<AsyncIterable<number>>("T.count", { n: 1000 });
    expect(isStreamable(stream)).toBe(true);
    expect(await collect(stream)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("streams an argument", async () => {
    const { client } = connected();
    expect(await client.call("T.sum", numbers(1000))).toBe(499500);
  });

  it("streams both ways in one call", async () => {
    const { client } = connected();
    const doubled = await client.call<AsyncIterable<number>>("T.double", numbers(600));
    expect(await collect(doubled)).toEqual(Array.from({ length: 600 }, (_, i) => 2 * i));
  });

  it("carries large byte streams intact in both directions", async () => {
    const { client } = connected();
    const size = 256 * 1024;
    const stream = await client.call<AsyncIterable<Uint8Array>>("T.bytes", { count: 64, size });
    let total = 0;
    let index = 0;
    for await (const chunk of stream) {
      expect(chunk).toBeInstanceOf(Uint8Array);
      expect(chunk.byteLength).toBe(size);
      expect(chunk[0]).toBe(index & 0xff);
      expect(chunk[size - 1]).toBe(index & 0xff);
      total += chunk.byteLength;
      index++;
    }
    expect(total).toBe(64 * size);
    async function* chunks() {
      for (let i = 0; i < 64; i++) yield new Uint8Array(size).fill(i);
    }
    expect(await client.call("T.byteLength", chunks())).toBe(64 * size);
  });

  it("holds a slow reader's producer to the flow-control window", async () => {
    const { client, log, serverLink, clientLink } = connected();
    const size = 64 * 1024;
    const stream = await client.call<AsyncIterable<Uint8Array>>("T.bytes", { count: 2000, size });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const produced = await settledValue(() => log.produced);
    const perItem = size + HEADER_BYTES;
    const windowItems = Math.min(STREAM_WINDOW_ITEMS, Math.ceil(STREAM_WINDOW_BYTES / perItem));
    // One read, the window in flight, one item past the window's last byte, one pulled and held.
    expect(produced).toBeLessThanOrEqual(1 + windowItems + 2);
    const bufferedBytes = (produced - 1) * perItem;
    expect(bufferedBytes).toBeLessThanOrEqual(STREAM_WINDOW_BYTES + 2 * perItem);
    expect(serverLink.bufferedAmount + clientLink.bufferedAmount).toBeLessThanOrEqual(STREAM_WINDOW_BYTES + 2 * perItem);
    let rest = 0;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest++;
    expect(rest).toBe(1999);
  });

  it("holds a streamed argument's producer to the window when the method reads slowly", async () => {
    const { client, log } = connected();
    let yielded = 0;
    const controller = new AbortController();
    const call = client.call("T.slowSum", numbers(100_000, () => yielded++), { signal: controller.signal });
    await waitUntil("the method to read one item", () => log.consumed === 1);
    const pulled = await settledValue(() => yielded);
    expect(pulled).toBeLessThanOrEqual(1 + STREAM_WINDOW_ITEMS + 2);
    controller.abort();
    await expect(call).rejects.toMatchObject({ kind: "canceled" });
  });

  it("makes the reader throw, as remote, when the producer fails midway", async () => {
    const { client } = connected();
    const stream = await client.call<AsyncIterable<number>>("T.count", { n: 100, failAt: 10 });
    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const item of stream) seen.push(item);
    } catch (err) {
      caught = err;
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(caught).toBeInstanceOf(BigmachineError);
    expect((caught as BigmachineError).kind).toBe("remote");
    expect(isKind(caught, "unavailable")).toBe(true);
    expect((caught as Error).message).toMatch(/producer failed at item 10/);
  });

  it("makes the method's reader throw when the caller's argument stream fails midway", async () => {
    const { client } = connected();
    async function* failing() {
      yield 1;
      yield 2;
      throw new RangeError("caller's source broke");
    }
    const err = await client.call("T.sum", failing()).catch((e: unknown) => e);
    expect((err as BigmachineError).kind).toBe("remote");
    expect((err as Error).message).toMatch(/caller's source broke/);
  });

  it("stops the producer when the reader breaks early", async () => {
    const { client, log, server } = connected();
    const stream = await client.call<AsyncIterable<number>>("T.count", { n: 1_000_000 });
    for await (const item of stream) if (item === 5) break;
    await waitUntil("the producer to be released", () => log.released === 1);
    await waitUntil("the far side to forget the call", () => [...server.peers][0].load.serving === 0);
    expect(client.load.calling).toBe(0);
    expect(await client.call("T.echo", "after")).toBe("after");
  });

  it("stops the caller's producer when the method stops reading its argument", async () => {
    const { client } = connected();
    let released = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        released = true;
      }
    }
    expect(await client.call("T.takeOne", source())).toBe(0);
    await waitUntil("the argument's producer to be released", () => released);
  });

  it("fails a reply stream with a temporary net error when the link drops midway", async () => {
    const { client, serverLink } = connected();
    const stream = await client.call<AsyncIterable<number>>("T.count", { n: 1_000_000 });
    let seen = 0;
    let caught: unknown;
    try {
      for await (const _ of stream) {
        if (++seen === 10) serverLink.close("dropped");
      }
    } catch (err) {
      caught = err;
    }
    expect(seen).toBeGreaterThanOrEqual(10);
    expect((caught as BigmachineError).kind).toBe("net");
    expect((caught as BigmachineError).severity).toBe("temporary");
  });

  it("fails the method's argument stream with net when the link drops midway", async () => {
    const { client, log, clientLink } = connected();
    const call = client.call("T.slowSum", numbers(1_000_000));
    await waitUntil("the method to start reading", () => log.consumed === 1);
    clientLink.close();
    await expect(call).rejects.toMatchObject({ kind: "net" });
    await waitUntil("the method's signal to abort", () => log.aborted.length === 1);
    expect(isKind(log.aborted[0].reason, "net")).toBe(true);
  });

  it("fails a stream whose item is over the receiver's limit", async () => {
    const { dispatcher } = testDispatcher();
    const server = new RpcServer({ dispatcher });
    const [a, b] = linkPair();
    server.accept(b);
    const client = new RpcPeer(a, { maxMessageBytes: 1000 });
    cleanups.push(() => client.close());
    const stream = await client.call<AsyncIterable<Uint8Array>>("T.bytes", { count: 5, size: 4000 });
    await expect(collect(stream)).rejects.toMatchObject({ kind: "invalid" });
    expect(await client.call("T.echo", 1)).toBe(1);
  });

  it("ends a producer whose item is over its own limit with an error the reader sees", async () => {
    const { client } = connected(1000);
    async function* big() {
      yield new Uint8Array(10);
      yield new Uint8Array(5000);
    }
    const err = await client.call("T.byteLength", big()).catch((e: unknown) => e);
    expect(isKind(err, "invalid")).toBe(true);
  });

  it("bounds reading a streamed reply by the call's deadline", async () => {
    const { client, log } = connected();
    const stream = await client.call<AsyncIterable<number>>("T.count", { n: 1_000_000 }, { timeoutMs: 50 });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await waitUntil("the deadline to stop the producer", () => log.released === 1);
    let err: unknown;
    try {
      for (;;) if ((await iterator.next()).done) break;
    } catch (e) {
      err = e;
    }
    expect((err as BigmachineError).kind).toBe("timeout");
  });

  it("counts streamed bytes in the stats", async () => {
    const { client, server } = connected();
    const stream = await client.call<AsyncIterable<Uint8Array>>("T.bytes", { count: 10, size: 10_000 });
    await collect(stream);
    expect(client.stats()["T.bytes"].bytesIn).toBeGreaterThanOrEqual(100_000);
    expect(server.stats()["T.bytes"].bytesOut).toBeGreaterThanOrEqual(100_000);
  });
});
