/**
 * @module
 * Serves an {@link RpcEndpoint} on a TCP port with @hono/node-server, with a `ws` server attached so the
 * endpoint's upgrade route can turn requests into links.
 */
import type { Socket } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { WebSocketServer } from "ws";
import { errorOf } from "../errors.ts";
import type { RpcEndpoint } from "./endpoint.ts";
import { WS_MAX_PAYLOAD_BYTES } from "./protocol.ts";

/** A listening endpoint. */
export interface ListeningEndpoint {
  /** `HOST:PORT`. */
  addr: string;
  port: number;
  /** Stops listening and ends every connection and upgraded socket. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@link listen}. */
export interface ListenOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Largest WebSocket message accepted on upgraded links; default {@link WS_MAX_PAYLOAD_BYTES}. */
  maxPayload?: number;
}

/**
 * Serves `endpoint.app` (its plain requests and its WebSocket upgrade route) on `host:port`. Rejects
 * with kind `net` if the port cannot be bound.
 */
export async function listen(endpoint: RpcEndpoint, options: ListenOptions = {}): Promise<ListeningEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxPayload ?? WS_MAX_PAYLOAD_BYTES });
  const server = createAdaptorServer({ fetch: endpoint.app.fetch, hostname: host, websocket: { server: wss } });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(errorOf("net", `listen on ${host}:${options.port ?? 0}: ${err.message}`, { cause: err }));
    server.once("error", onError);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const bracketed = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    addr: `${bracketed}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
