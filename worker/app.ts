/**
 * @module
 * The worker's HTTP face: a hono app whose one route is the attach upgrade, served with
 * @hono/node-server and a `ws` server. The worker decides on each attach from its headers before the
 * upgrade; a refusal is an HTTP status with its reason in {@link ATTACH_REFUSAL_HEADER} (a refused
 * upgrade has no body). An accepted attach gets its WebSocket and the connection under it, which the
 * worker hands to the machine process.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { createAdaptorServer, upgradeWebSocket } from "@hono/node-server";
import { Hono } from "hono";
import type WebSocket from "ws";
import { WebSocketServer } from "ws";
import { errorOf } from "../src/core.ts";
import { ATTACH_HEADERS, ATTACH_PATH, ATTACH_REFUSAL_HEADER, ATTACH_STATUS, MAX_PROGRAM_BYTES } from "../src/systems/cloudrun/attach-protocol.ts";
import type { Admission, AttachRequest, Refusal, Worker } from "./worker.ts";

/** A refusal as a response: the status, and the reason in a header (printable ASCII, bounded). */
export function refusalResponse(refusal: Refusal): Response {
  const reason = refusal.reason.replace(/[^\x20-\x7e]+/g, " ").slice(0, 400);
  return new Response(`${reason}\n`, {
    status: refusal.status,
    headers: { [ATTACH_REFUSAL_HEADER]: reason, "content-type": "text/plain; charset=utf-8" },
  });
}

/** The attach headers of a request. */
export function attachRequestOf(headers: Headers): AttachRequest {
  return {
    version: headers.get(ATTACH_HEADERS.version),
    secret: headers.get(ATTACH_HEADERS.secret),
    proof: headers.get(ATTACH_HEADERS.proof),
    machineId: headers.get(ATTACH_HEADERS.machine),
    resumeToken: headers.get(ATTACH_HEADERS.resumeToken),
  };
}

type AppEnv = { Variables: { admission: Admission; socket: Socket } };

/** The worker's app: `GET` {@link ATTACH_PATH} as a WebSocket upgrade; every other request is 404. */
export function createWorkerApp(worker: Worker): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(
    ATTACH_PATH,
    async (c, next) => {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        return refusalResponse({ status: ATTACH_STATUS.badRequest, reason: `${ATTACH_PATH} only accepts WebSocket upgrades` });
      }
      const decision = worker.admit(attachRequestOf(c.req.raw.headers));
      if ("status" in decision) return refusalResponse(decision);
      // An upgrade that never completes (the client left) gives its reservation back; once open, this is a no-op.
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      if (incoming === undefined) {
        decision.cancel();
        return refusalResponse({ status: ATTACH_STATUS.badRequest, reason: "the worker takes attaches only over node:http" });
      }
      incoming.socket.once("close", () => decision.cancel());
      c.set("admission", decision);
      c.set("socket", incoming.socket as Socket);
      await next();
    },
    upgradeWebSocket((c) => {
      const admission = c.get("admission");
      const socket = c.get("socket");
      return { onOpen: (_event, ws) => admission.open(ws.raw as unknown as WebSocket, socket) };
    }),
  );
  return app;
}

/** A listening worker. */
export interface ServedWorker {
  port: number;
  /** `http://HOST:PORT`. */
  url: string;
  /** Stops listening and ends every connection and tunnel. Idempotent. */
  close(): Promise<void>;
}

/** Serves the worker's app on `host:port` (0 for any free port). Rejects with kind `net` if it cannot listen. */
export async function serveWorker(worker: Worker, options: { host: string; port: number }): Promise<ServedWorker> {
  // Not tracked: a tunnel's connection leaves this process when it is handed to the machine.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_PROGRAM_BYTES, clientTracking: false });
  const server = createAdaptorServer({ fetch: createWorkerApp(worker).fetch, hostname: options.host, websocket: { server: wss } });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error) => reject(errorOf("net", `the worker cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err })));
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        wss.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
  };
}
