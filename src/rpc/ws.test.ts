import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BigmachineError, isKind } from "../errors.ts";
import { decodeRange, encode } from "./codec.ts";
import { callFrame, frameValue, methodBytes } from "./frames.ts";
import { listen, type ListeningEndpoint } from "./node-server.ts";
import { RpcPeer } from "./peer.ts";
import { ATTACH_PATH } from "./protocol.ts";
import { RpcServer } from "./server.ts";
import { testDispatcher } from "./test-dispatcher.ts";
import { rejection, waitUntil } from "../../test/helpers.ts";
import { connectWebSocket } from "./ws-link.ts";

const SECRET = "s3cret";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serving(options: { maxMessageBytes?: number } = {}) {
  const { dispatcher, log } = testDispatcher();
  const server = new RpcServer({
    dispatcher,
    authorize: (headers) => headers.get("x-secret") === SECRET,
    maxMessageBytes: options.maxMessageBytes,
  });
  const listener: ListeningEndpoint = await listen(server);
  cleanups.push(() => listener.close());
  return { server, listener, log, url: `ws://${listener.addr}${ATTACH_PATH}` };
}

async function dial(url: string, label = "m1") {
  const link = await connectWebSocket(url, { headers: { "x-secret": SECRET } });
  const peer = new RpcPeer(link, { label });
  cleanups.push(() => peer.close());
  return peer;
}

describe("RPC over WebSockets", () => {
  it("listens on loopback and serves calls, errors and unknown methods", async () => {
    const { url, listener, server } = await serving();
    expect(listener.addr).toBe(`127.0.0.1:${listener.port}`);
    const peer = await dial(url);
    expect(await peer.call("T.echo", { n: 1n, m: new Map([[1, 2]]) })).toEqual({ n: 1n, m: new Map([[1, 2]]) });
    const failed = await rejection(peer.call("T.fail", { kind: "oom", message: "full", severity: "fatal" }));
    expect(failed.kind).toBe("remote");
    expect(isKind(failed, "oom")).toBe(true);
    expect(failed.severity).toBe("fatal");
    expect(isKind(await rejection(peer.call("T.nope", 0)), "not-exist")).toBe(true);
    expect(server.peers.size).toBe(1);
  });

  it("streams large byte payloads both ways", async () => {
    const { url } = await serving();
    const peer = await dial(url);
    const size = 1024 * 1024;
    const stream = await peer.call<AsyncIterable<Uint8Array>>("T.bytes", { count: 16, size });
    let total = 0;
    for await (const chunk of stream) {
      expect(chunk[size - 1]).toBe(total / size);
      total += chunk.byteLength;
    }
    expect(total).toBe(16 * size);
    async function* chunks() {
      for (let i = 0; i < 16; i++) yield new Uint8Array(size);
    }
    expect(await peer.call("T.byteLength", chunks())).toBe(16 * size);
  });

  it("lets the server call back over an accepted link", async () => {
    const { url, server } = await serving();
    const { dispatcher } = testDispatcher();
    const link = await connectWebSocket(url, { headers: { "x-secret": SECRET } });
    const peer = new RpcPeer(link, { dispatcher });
    cleanups.push(() => peer.close());
    await waitUntil("the server to accept the link", () => server.peers.size === 1);
    const accepted = [...server.peers][0];
    expect(await accepted.call("T.echo", "called back")).toBe("called back");
  });

  it("cancels and times out across processes' worth of plumbing", async () => {
    const { url, log } = await serving();
    const peer = await dial(url);
    const controller = new AbortController();
    const call = peer.call("T.hang", null, { signal: controller.signal });
    await waitUntil("the call to arrive", () => log.calls.get("T.hang") === 1);
    controller.abort();
    expect((await rejection(call)).kind).toBe("canceled");
    expect((await rejection(peer.call("T.hang", null, { timeoutMs: 20 }))).kind).toBe("timeout");
    await waitUntil("both calls to abort on the far side", () => log.aborted.length === 2);
  });

  it("fails calls and streams with a temporary net error when the server goes away", async () => {
    const { url, listener, log } = await serving();
    const peer = await dial(url);
    const hanging = peer.call("T.hang", null);
    const stream = await peer.call<AsyncIterable<number>>("T.count", { n: 1_000_000_000 });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await waitUntil("the call to arrive", () => log.calls.get("T.hang") === 1);
    await listener.close();
    const err = await rejection(hanging);
    expect(err.kind).toBe("net");
    expect(err.temporary).toBe(true);
    let streamErr: unknown;
    try {
      for (;;) if ((await iterator.next()).done) break;
    } catch (e) {
      streamErr = e;
    }
    expect((streamErr as BigmachineError).kind).toBe("net");
    expect(await peer.closed).toBeInstanceOf(Error);
    expect((await rejection(peer.call("T.echo", 1))).kind).toBe("net");
  });

  it("refuses an upgrade without credentials with kind unauthorized, dispatching nothing", async () => {
    const { url, log, server } = await serving();
    const err = await rejection(connectWebSocket(url, { headers: { "x-secret": "wrong" } }));
    expect(err.kind).toBe("unauthorized");
    expect(err.message).toContain("401");
    expect(log.calls.size).toBe(0);
    expect(server.peers.size).toBe(0);
  });

  it("reports a refused connection as a temporary net error", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address() as { port: number };
        probe.close(() => resolve(address.port));
      });
    });
    const err = await rejection(connectWebSocket(`ws://127.0.0.1:${port}${ATTACH_PATH}`));
    expect(err.kind).toBe("net");
    expect(err.severity).toBe("temporary");
  });

  it("fails a dial whose handshake never completes with a temporary net error", async () => {
    const sockets: import("node:net").Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket.on("error", () => {}));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as { port: number }).port;
    const err = await rejection(connectWebSocket(`ws://127.0.0.1:${port}${ATTACH_PATH}`, { handshakeTimeoutMs: 50 }));
    expect(err.kind).toBe("net");
    expect(err.temporary).toBe(true);
  });

  it("refuses to listen on a port in use with kind net", async () => {
    const { listener, server } = await serving();
    const err = await rejection(listen(server, { port: listener.port }));
    expect(err.kind).toBe("net");
  });

  it("reports other HTTP answers as temporary net errors", async () => {
    const { listener } = await serving();
    const err = await rejection(connectWebSocket(`ws://${listener.addr}/nothing-here`, { headers: { "x-secret": SECRET } }));
    expect(err.kind).toBe("net");
    expect(err.temporary).toBe(true);
  });

  it("rejects a canceled dial with kind canceled", async () => {
    const { url } = await serving();
    const err = await rejection(connectWebSocket(url, { signal: AbortSignal.abort() }));
    expect(err.kind).toBe("canceled");
    const controller = new AbortController();
    const dialing = connectWebSocket(url, { headers: { "x-secret": SECRET }, signal: controller.signal });
    controller.abort();
    const late = await dialing.then(
      (link) => {
        link.close();
        return "connected first";
      },
      (e: BigmachineError) => e.kind,
    );
    expect(["canceled", "connected first"]).toContain(late);
  });

  it("answers garbage in a well-formed frame and closes only a link that sends unparsable frames", async () => {
    const { url, server } = await serving({ maxMessageBytes: 1024 });
    const good = await dial(url, "good");
    const raw = new WebSocket(url, { headers: { "x-secret": SECRET } });
    cleanups.push(() => raw.terminate());
    await new Promise((resolve, reject) => raw.once("open", resolve).once("error", reject));
    const answers: Buffer[] = [];
    raw.on("message", (data) => answers.push(data as Buffer));

    raw.send(callFrame(1, 0, methodBytes("T.echo"), new Uint8Array([0xc1, 0xc1])));
    raw.send(callFrame(2, 0, methodBytes("T.echo"), new Uint8Array(4096)));
    raw.send(callFrame(3, 0, methodBytes("T.echo"), encode("ok")));
    await waitUntil("three answers", () => answers.length === 3);
    const kinds = answers.slice(0, 2).map((frame) => (frameValue(frame, 5) as { kind: string }).kind);
    expect(kinds).toEqual(["invalid", "invalid"]);
    expect(frameValue(answers[2], 5)).toBe("ok");

    const closed = new Promise<number>((resolve) => raw.once("close", (code) => resolve(code)));
    raw.send(Buffer.from([0x55, 1, 2]));
    await closed;
    await waitUntil("the server to drop the bad link", () => server.peers.size === 1);
    expect(await good.call("T.echo", "still fine")).toBe("still fine");
  });
});

describe("HTTP face over a real socket", () => {
  it("serves plain calls and refuses them without credentials", async () => {
    const { listener, log } = await serving({ maxMessageBytes: 1000 });
    const url = `http://${listener.addr}/bigrpc/T.echo`;
    const ok = await fetch(url, { method: "POST", body: encode("hi"), headers: { "x-secret": SECRET } });
    expect(ok.status).toBe(200);
    expect(decodeRange(new Uint8Array(await ok.arrayBuffer()), 0, Number(ok.headers.get("content-length")))).toBe("hi");
    const tooBig = await fetch(url, { method: "POST", body: encode(new Uint8Array(4000)), headers: { "x-secret": SECRET } });
    expect(tooBig.status).toBe(413);
    await tooBig.arrayBuffer();
    const refused = await fetch(url, { method: "POST", body: encode("hi") });
    expect(refused.status).toBe(401);
    await refused.arrayBuffer();
    expect(log.calls.get("T.echo")).toBe(1);
  });
});
