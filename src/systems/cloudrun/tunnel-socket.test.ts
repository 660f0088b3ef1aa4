/**
 * A tunnel's socket as both ends read it during the handshake: messages in order, control messages
 * decoded and checked, bounded waits, and the close reported to a waiting read.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { BigmachineError, isKind } from "../../core.ts";
import { SocketPairs } from "./test-socket-pair.ts";
import { rejection, waitUntil } from "../../../test/helpers.ts";
import { DEFAULT_MAX_QUEUED_MESSAGES, TunnelSocket } from "./tunnel-socket.ts";

const pairs = new SocketPairs();
afterEach(() => pairs.close());

/** A tunnel on one end of a loopback socket pair, and the other end's raw socket. */
async function tunnelPair(options?: ConstructorParameters<typeof TunnelSocket>[1]): Promise<{ tunnel: TunnelSocket; far: WebSocket }> {
  const { near, far } = await pairs.open();
  return { tunnel: new TunnelSocket(near, options), far };
}

/** Resolves with the close code the far end sees. */
function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code: number) => resolve(code)));
}

describe("a tunnel socket", () => {
  it("reads control and binary messages in order, then forwards the rest", async () => {
    const { tunnel, far } = await tunnelPair();
    far.send(JSON.stringify({ type: "ready", machineId: "m-1", pid: 7, resumeToken: "t-1" }));
    far.send(Buffer.from("frame 1"));
    far.send(Buffer.from("frame 2"));
    far.send("text after");
    expect(await tunnel.next({ timeoutMs: 5_000, what: "ready" })).toEqual({ kind: "control", message: { type: "ready", machineId: "m-1", pid: 7, resumeToken: "t-1" } });
    const first = await tunnel.next({ timeoutMs: 5_000, what: "a frame" });
    expect(first.kind === "binary" && first.data.toString()).toBe("frame 1");
    const rest: string[] = [];
    await new Promise<void>((resolve) => {
      tunnel.forward({
        binary: (data) => rest.push(`binary ${data.toString()}`),
        text: (text) => {
          rest.push(`text ${text}`);
          resolve();
        },
      });
    });
    expect(rest).toEqual(["binary frame 2", "text text after"]);
    await expect(tunnel.next({ timeoutMs: 10, what: "more" })).rejects.toThrow(/handed over/);
  });

  it("refuses a malformed control message with kind invalid, and keeps reading after it", async () => {
    const { tunnel, far } = await tunnelPair();
    far.send('{"type":"launch"}');
    far.send(Buffer.from("next"));
    expect(isKind(await rejection(tunnel.next({ timeoutMs: 5_000, what: "hello" })), "invalid")).toBe(true);
    expect((await tunnel.next({ timeoutMs: 5_000, what: "a frame" })).kind).toBe("binary");
  });

  it("bounds a wait, and fails it with kind net once the socket closes", async () => {
    const { tunnel, far } = await tunnelPair();
    const timedOut = await rejection(tunnel.next({ timeoutMs: 30, what: "the worker's hello" }));
    expect(timedOut.kind).toBe("timeout");
    expect(timedOut.message).toMatch(/the worker's hello did not arrive within 30 ms/);

    const waiting = tunnel.next({ timeoutMs: 5_000, what: "exec" });
    await expect(tunnel.next({ timeoutMs: 10, what: "a second read" })).rejects.toThrow(/another read/);
    far.close(4001, "going away");
    const closed = await rejection(waiting);
    expect(closed.kind).toBe("net");
    expect(closed.message).toMatch(/closed with code 4001: going away \(while waiting for exec\)/);
    expect(tunnel.open).toBe(false);
    expect(tunnel.closeInfo).toMatchObject({ code: 4001, reason: "going away" });
  });

  it("cancels a wait when its signal aborts", async () => {
    const { tunnel } = await tunnelPair();
    const controller = new AbortController();
    const waiting = tunnel.next({ timeoutMs: 5_000, what: "hello", signal: controller.signal });
    controller.abort();
    expect((await rejection(waiting)).kind).toBe("canceled");
  });

  it("bounds the messages queued during the handshake, and closes a peer that floods them", async () => {
    const { tunnel, far } = await tunnelPair();
    const closed = closeCode(far);
    for (let i = 0; i <= DEFAULT_MAX_QUEUED_MESSAGES; i++) far.send(Buffer.from(`frame ${i}`));
    expect(await closed).toBe(1008);
    const err = await rejection(tunnel.next({ timeoutMs: 5_000, what: "exec" }));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(new RegExp(`more than ${DEFAULT_MAX_QUEUED_MESSAGES} messages`));
  });

  it("bounds the bytes queued during the handshake", async () => {
    const { tunnel, far } = await tunnelPair({ maxQueuedBytes: 1_000 });
    const closed = closeCode(far);
    far.send(Buffer.alloc(600));
    far.send(Buffer.alloc(600));
    expect(await closed).toBe(1008);
    const err = await rejection(tunnel.next({ timeoutMs: 5_000, what: "the program" }));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/more than 1000 bytes/);
    expect((await tunnel.closed).code).toBe(1008);
  });

  it("counts only what is still queued: messages read as they come never reach the bound", async () => {
    const { tunnel, far } = await tunnelPair({ maxQueuedMessages: 2 });
    for (let i = 0; i < 5; i++) {
      far.send(Buffer.from(`frame ${i}`));
      const message = await tunnel.next({ timeoutMs: 5_000, what: `frame ${i}` });
      expect(message.kind === "binary" && message.data.toString()).toBe(`frame ${i}`);
    }
    far.send(Buffer.from("forwarded"));
    const forwarded = await new Promise<string>((resolve) => tunnel.forward({ binary: (data) => resolve(data.toString()), text: () => {} }));
    expect(forwarded).toBe("forwarded");
    await waitUntil("the tunnel stays open", () => tunnel.open);
  });
});
