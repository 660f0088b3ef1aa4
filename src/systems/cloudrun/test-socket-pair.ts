/**
 * @module
 * Loopback WebSocket pairs for the tunnel's own tests, and bounded polling. Not part of the public
 * API. @internal
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";

/** Two connected sockets on loopback: `near` dialed, `far` accepted. */
export interface SocketPair {
  near: WebSocket;
  far: WebSocket;
}

/** Makes socket pairs and ends them all (sockets and servers) on {@link close}. */
export class SocketPairs {
  readonly #servers: Server[] = [];
  readonly #sockets: WebSocket[] = [];

  /** A new pair, each on its own server. */
  async open(): Promise<SocketPair> {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    const server = createServer();
    this.#servers.push(server);
    const far = new Promise<WebSocket>((resolve) => server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, resolve)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const near = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { perMessageDeflate: false });
    await new Promise((resolve) => near.once("open", resolve));
    const pair = { near, far: await far };
    this.#sockets.push(pair.near, pair.far);
    return pair;
  }

  /** Ends every socket and server made so far. */
  async close(): Promise<void> {
    for (const ws of this.#sockets.splice(0)) ws.terminate();
    await Promise.all(this.#servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

