/**
 * @module
 * A WebSocket over a connection whose upgrade another process answered. The worker upgrades an
 * attach (and runs a fresh attach's handshake) and then hands the connection to the machine process
 * over their IPC channel; the machine speaks WebSocket on it from the next frame on, so the worker
 * is not in the path of the frames.
 *
 * `ws` has no public call for this: its server builds each socket's WebSocket with an address of
 * `null` (the server role) and then `setSocket`, which is what this does, with the server's defaults.
 * The `ws` version is pinned, and the worker's tests run every tunnel through here.
 */
import type { Duplex } from "node:stream";
import WebSocket from "ws";
import { errorOf } from "../../core.ts";

/** The part of `ws`'s WebSocket that its server uses to take over an upgraded connection. */
interface AdoptableWebSocket {
  setSocket(socket: Duplex, head: Buffer, options: Record<string, unknown>): void;
}

type ServerSideConstructor = new (address: null, protocols: undefined, options: Record<string, unknown>) => WebSocket & AdoptableWebSocket;

/** Options for {@link adoptWebSocket}. */
export interface AdoptOptions {
  /** Largest message accepted; a larger one closes the socket (1009). */
  maxPayload: number;
}

/** The server side of a WebSocket whose `101 Switching Protocols` has already been sent on `socket`. */
export function adoptWebSocket(socket: Duplex, options: AdoptOptions): WebSocket {
  const ws = new (WebSocket as unknown as ServerSideConstructor)(null, undefined, { autoPong: true, closeTimeout: 30_000 });
  if (typeof ws.setSocket !== "function") {
    socket.destroy();
    throw errorOf("precondition", "this version of ws cannot take over an upgraded connection (no setSocket)", { severity: "fatal" });
  }
  ws.setSocket(socket, Buffer.alloc(0), {
    allowSynchronousEvents: true,
    maxPayload: options.maxPayload,
    maxBufferedChunks: 256 * 1024,
    maxFragments: 16 * 1024,
    skipUTF8Validation: false,
  });
  return ws;
}
