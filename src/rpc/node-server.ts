/**
 * @module
 * Serves an {@link RpcEndpoint} on a TCP port with `node:http`. Tunnels, the hot path, are WebSocket
 * upgrades of {@link ATTACH_PATH} taken by `ws` directly and handed to `endpoint.accept`; plain requests
 * go to the endpoint's hono app (`fetch-listener.ts`). Neither needs @hono/node-server, whose module
 * graph (node's fetch classes at load, `node:http2`) every machine would otherwise load at start.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";
import { errorOf, errorToWire } from "../errors.ts";
import { encode } from "./codec.ts";
import type { HeaderReader, RpcEndpoint } from "./endpoint.ts";
import { ATTACH_PATH, MSGPACK_CONTENT_TYPE, WS_MAX_PAYLOAD_BYTES } from "./protocol.ts";
import { fetchListener } from "./fetch-listener.ts";
import { wsLink } from "./ws-link.ts";

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

/** Answers an upgrade that is not taken with `status` and a bigmachine error body, and closes it. */
function refuseUpgrade(socket: Socket, status: number, reason: string, err: Error): void {
  const body = Buffer.from(encode(errorToWire(err)));
  socket.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${MSGPACK_CONTENT_TYPE}\r\ncontent-length: ${body.byteLength}\r\nconnection: close\r\n\r\n`);
  socket.write(body);
  socket.destroySoon();
}

/**
 * The request's headers for a check, read straight from node's: a fetch `Headers` would load node's
 * fetch implementation on a machine's first tunnel, for one lookup.
 */
function headerReaderOf(req: IncomingMessage): HeaderReader {
  return {
    get(name: string): string | null {
      const value = req.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

/**
 * Serves `endpoint` on `host:port`: WebSocket upgrades of {@link ATTACH_PATH} become links (after
 * `endpoint.authorize`, when it has one), other requests go to `endpoint.app`. Rejects with kind `net`
 * if the port cannot be bound.
 */
export async function listen(endpoint: RpcEndpoint, options: ListenOptions = {}): Promise<ListeningEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxPayload ?? WS_MAX_PAYLOAD_BYTES });
  const server = createServer(fetchListener((request) => endpoint.app.fetch(request)));
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", () => {});
    const path = (req.url ?? "").split("?")[0];
    if (path !== ATTACH_PATH || req.headers.upgrade?.toLowerCase() !== "websocket") {
      return refuseUpgrade(socket, 404, "Not Found", errorOf("not-exist", `no upgrade at ${path}`, { severity: "fatal" }));
    }
    if (endpoint.authorize !== undefined && !endpoint.authorize(headerReaderOf(req))) {
      return refuseUpgrade(socket, 401, "Unauthorized", errorOf("unauthorized", "missing or wrong credentials"));
    }
    wss.handleUpgrade(req, socket, head, (ws) => void endpoint.accept(wsLink(ws)));
  });
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
