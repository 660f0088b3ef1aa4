/**
 * @module
 * A service's URL: a loopback HTTP server that checks the caller, places each request (or WebSocket
 * upgrade) on an instance, and proxies it there with streaming bodies both ways. It enforces the
 * request timeout (504 for HTTP; an upgraded socket is closed) and sets the session-affinity cookie.
 */
import http from "node:http";
import net from "node:net";
import type { AuthVerdict } from "./auth.ts";
import { credentialHeader, stripSignature } from "./auth.ts";
import type { Instance } from "./instance.ts";
import { NoCapacityError, type InstancePool, type Lease } from "./pool.ts";

/** Cloud Run's session-affinity cookie. */
export const AFFINITY_COOKIE = "GAESA";
const AFFINITY_MAX_AGE_S = 30 * 24 * 3600;

/** What the front end asks of its service at each request (the revision can change between them). */
export interface FrontEndTarget {
  pool(): InstancePool | undefined;
  authorize(headers: http.IncomingHttpHeaders): AuthVerdict;
  /** Whether affinity cookies are honoured now (set on the revision, not broken by a fault switch). */
  affinity(): boolean;
  ingressNone(): boolean;
  timeoutMs(): number;
}

/** A running front end. */
export interface FrontEnd {
  url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"];

function affinityCookieOf(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, value] = part.trim().split("=");
    if (name === AFFINITY_COOKIE && value) return value;
  }
  return undefined;
}

function setCookieLine(instance: Instance): string {
  return `${AFFINITY_COOKIE}=${instance.id}; Path=/; Max-Age=${AFFINITY_MAX_AGE_S}; HttpOnly`;
}

/** Headers to send to the container: hop-by-hop ones removed, the serverless credential unsigned. */
function forwardHeaders(req: http.IncomingMessage, keepUpgrade: boolean): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = { ...req.headers };
  for (const h of HOP_BY_HOP) if (!(keepUpgrade && (h === "connection" || h === "upgrade"))) delete headers[h];
  if (credentialHeader(req.headers) === "x-serverless-authorization") {
    headers["x-serverless-authorization"] = stripSignature(String(req.headers["x-serverless-authorization"]));
  }
  headers["x-forwarded-for"] = req.socket.remoteAddress ?? "127.0.0.1";
  headers["x-forwarded-proto"] = "http";
  return headers;
}

function plainReply(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" });
  res.end(`${message}\n`);
}

function rawReply(socket: net.Socket, status: number, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(message) + 1}\r\nconnection: close\r\n\r\n${message}\n`);
}

/** Checks and places a request; answers it and returns undefined when it cannot go through. */
async function admit(target: FrontEndTarget, req: http.IncomingMessage, reject: (status: number, message: string) => void): Promise<Lease | undefined> {
  if (target.ingressNone()) return void reject(404, "Not Found: this service accepts no traffic (ingress is NONE)");
  const verdict = target.authorize(req.headers);
  if (!verdict.ok) return void reject(verdict.status, verdict.message);
  const pool = target.pool();
  if (!pool) return void reject(503, "Service Unavailable: no revision is serving");
  try {
    return await pool.acquire(target.affinity() ? affinityCookieOf(req) : undefined);
  } catch (err) {
    if (err instanceof NoCapacityError) return void reject(429, `Rate exceeded: ${err.message}`);
    throw err;
  }
}

function proxyRequest(target: FrontEndTarget, req: http.IncomingMessage, res: http.ServerResponse, lease: Lease): void {
  const { instance } = lease;
  const wantsCookie = target.affinity() && affinityCookieOf(req) !== instance.id;
  instance.sockets.add(req.socket);
  const upstream = http.request({ host: "127.0.0.1", port: instance.port, method: req.method, path: req.url, headers: forwardHeaders(req, false) });
  const timer = setTimeout(() => {
    plainReply(res, 504, "upstream request timeout");
    upstream.destroy();
  }, target.timeoutMs());
  res.once("close", () => {
    clearTimeout(timer);
    lease.release();
    upstream.destroy();
  });
  upstream.on("socket", (s) => instance.sockets.add(s));
  upstream.on("response", (up) => {
    const headers = { ...up.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    if (wantsCookie) headers["set-cookie"] = [...(up.headers["set-cookie"] ?? []), setCookieLine(instance)];
    res.writeHead(up.statusCode ?? 502, headers);
    up.pipe(res);
    up.on("error", () => res.destroy());
  });
  upstream.on("error", () => plainReply(res, 503, "Service Unavailable: the instance did not answer"));
  req.pipe(upstream);
}

function proxyUpgrade(target: FrontEndTarget, req: http.IncomingMessage, client: net.Socket, head: Buffer, lease: Lease): void {
  const { instance } = lease;
  const wantsCookie = target.affinity() && affinityCookieOf(req) !== instance.id;
  const upstream = net.connect(instance.port, "127.0.0.1");
  instance.sockets.add(client);
  instance.sockets.add(upstream);
  // The request timeout bounds a WebSocket's whole life, as on Cloud Run.
  const timer = setTimeout(() => {
    client.destroy();
    upstream.destroy();
  }, target.timeoutMs());
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    lease.release();
    instance.sockets.delete(client);
    instance.sockets.delete(upstream);
    client.destroy();
    upstream.destroy();
  };
  client.on("close", close).on("error", close);
  upstream.on("close", close).on("error", close);
  upstream.once("connect", () => {
    const headers = forwardHeaders(req, true);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`);
    }
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    if (!wantsCookie) {
      upstream.pipe(client);
      return;
    }
    // Insert the affinity cookie into the container's handshake answer, then pass bytes through.
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      upstream.off("data", onData);
      const headText = buffered.subarray(0, end).toString("latin1");
      client.write(Buffer.concat([Buffer.from(`${headText}\r\nSet-Cookie: ${setCookieLine(instance)}\r\n\r\n`, "latin1"), buffered.subarray(end + 4)]));
      upstream.pipe(client);
    };
    upstream.on("data", onData);
  });
}

/** Starts the front end of one service on a loopback port. */
export async function startFrontEnd(target: FrontEndTarget): Promise<FrontEnd> {
  const server = http.createServer((req, res) => {
    admit(target, req, (status, message) => plainReply(res, status, message)).then(
      (lease) => {
        if (!lease) return;
        if (req.destroyed) return lease.release();
        proxyRequest(target, req, res, lease);
      },
      (err) => plainReply(res, 500, `Internal error: ${(err as Error).message}`),
    );
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    admit(target, req, (status, message) => rawReply(socket, status, message)).then(
      (lease) => {
        if (!lease) return;
        if (socket.destroyed) return lease.release();
        proxyUpgrade(target, req, socket, head, lease);
      },
      (err) => rawReply(socket, 500, `Internal error: ${(err as Error).message}`),
    );
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
