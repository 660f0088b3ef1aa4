/**
 * @module
 * Forwarding one admitted request to the instance holding its slot: plain HTTP with bodies streamed
 * both ways, or a WebSocket (any upgrade) as two piped sockets. Both register their sockets with the
 * instance so a fault switch can drop them, release the slot exactly once when done, and end at the
 * request timeout, as Cloud Run does (the instance itself keeps running).
 *
 * The slot outlives a client that leaves: the front end ends the request to the instance only some
 * time later (`slotHoldMs`), so at concurrency 1 the next request (a reconnect, say) can reach the
 * instance only after the old one has been ended there. Until then the request counts as lingering.
 */
import http from "node:http";
import net from "node:net";
import { credentialHeader, stripSignature } from "./auth.ts";
import type { Lease } from "./pool.ts";

/** Limits of the serving revision. */
export interface ProxyLimits {
  /** The request timeout: an HTTP request gets 504 (or is cut), an upgraded socket is closed. */
  timeoutMs: number;
  /** How long after its client leaves a request still holds its slot on the instance. */
  slotHoldMs: number;
  /** When set, an upgraded socket is dropped (both sides) this long after it opens (a chaos fault). */
  dropAfterMs?: number;
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"];

/** Headers for the container: hop-by-hop ones removed, the serverless credential without its signature. */
function forwardHeaders(req: http.IncomingMessage, upgrade: boolean): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = { ...req.headers };
  for (const name of HOP_BY_HOP) if (!(upgrade && (name === "connection" || name === "upgrade"))) delete headers[name];
  if (credentialHeader(req.headers) === "x-serverless-authorization") {
    headers["x-serverless-authorization"] = stripSignature(String(req.headers["x-serverless-authorization"]));
  }
  headers["x-forwarded-for"] = req.socket.remoteAddress ?? "127.0.0.1";
  headers["x-forwarded-proto"] = "http";
  return headers;
}

/** Keeps `socket` in the instance's set while it is open, so dropping the instance's connections reaches it. */
function track(lease: Lease, socket: net.Socket): void {
  lease.instance.sockets.add(socket);
  socket.once("close", () => lease.instance.sockets.delete(socket));
}

/** Proxies a plain HTTP request; the slot is released when the client's response closes. */
export function proxyRequest(
  options: { req: http.IncomingMessage; res: http.ServerResponse; lease: Lease; cookie: string | undefined } & ProxyLimits,
): void {
  const { req, res, lease, cookie } = options;
  const { instance } = lease;
  // Only while this request is served: the client's connection may be reused for another instance later.
  instance.sockets.add(req.socket);
  const upstream = http.request({
    host: instance.host,
    port: instance.port,
    method: req.method,
    path: req.url,
    headers: forwardHeaders(req, false),
    agent: false,
  });
  upstream.on("socket", (socket) => track(lease, socket));
  const timer = setTimeout(() => {
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(504, { "content-type": "text/plain; charset=utf-8" });
      res.end("upstream request timeout\n");
    }
    upstream.destroy();
  }, options.timeoutMs);
  let answered = false;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    upstream.destroy();
    lease.release();
  };
  res.once("close", () => {
    instance.sockets.delete(req.socket);
    // Answered in full, or cut by the front end itself (timeout, a dropped instance): the request is over.
    if (res.writableFinished || upstream.destroyed) return end();
    // The client left first: the instance keeps the request until the front end ends it.
    clientLeft(lease, options.slotHoldMs, end, (done) => {
      if (answered) done();
      else upstream.once("close", done);
    });
  });
  upstream.on("response", (answer) => {
    answer.once("end", () => (answered = true));
    const headers: http.OutgoingHttpHeaders = { ...answer.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    if (cookie) headers["set-cookie"] = [...(answer.headers["set-cookie"] ?? []), cookie];
    if (res.destroyed) {
      // The client left before the answer came: read it to its end, as the front end would.
      answer.resume();
      answer.once("end", () => upstream.destroy());
      return;
    }
    res.writeHead(answer.statusCode ?? 502, headers);
    answer.pipe(res);
    // Once the client is gone, drain the rest so the instance can finish the request.
    res.once("close", () => answer.resume());
    answer.on("error", () => res.destroy());
    answer.on("aborted", () => res.destroy());
  });
  upstream.on("error", () => {
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
      res.end("Service Unavailable: the connection to the instance failed.\n");
    }
  });
  req.pipe(upstream);
}

/**
 * After a client leaves: the request stays on the instance (lingering) until `holdMs` pass or the
 * instance finishes it (`onFinished`), then `end` frees the slot.
 */
function clientLeft(lease: Lease, holdMs: number, end: () => void, onFinished: (done: () => void) => void): void {
  const { instance } = lease;
  instance.lingering++;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    instance.lingering--;
    end();
  };
  const timer = setTimeout(finish, holdMs);
  timer.unref();
  onFinished(finish);
}

/** The raw request head to replay to the container for an upgrade. */
function requestHead(req: http.IncomingMessage): string {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (const [name, value] of Object.entries(forwardHeaders(req, true))) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * Proxies an upgrade (a WebSocket) by replaying its head to the instance and piping the two sockets;
 * the slot is held until either side closes or the request timeout ends both.
 */
export function proxyUpgrade(
  options: { req: http.IncomingMessage; client: net.Socket; head: Buffer; lease: Lease; cookie: string | undefined } & ProxyLimits,
): void {
  const { req, client, head, lease, cookie } = options;
  const upstream = net.connect({ port: lease.instance.port, host: lease.instance.host, noDelay: true });
  // Frames go on as they come, as through Google's front end: without this, Nagle's algorithm holds
  // small writes behind unacknowledged ones, and many small calls in flight stall on delayed ACKs.
  client.setNoDelay(true);
  track(lease, client);
  track(lease, upstream);
  // Cloud Run counts a WebSocket as one request: its whole life is bounded by the request timeout.
  const timer = setTimeout(() => close(), options.timeoutMs);
  const drop = options.dropAfterMs === undefined ? undefined : setTimeout(() => close(), options.dropAfterMs);
  let closed = false;
  let lingering = false;
  function close(): void {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    clearTimeout(drop);
    client.destroy();
    upstream.destroy();
    lease.release();
  }
  const onClientGone = () => {
    // Cut at the front end (timeout, a drop) or by the instance: both ends go at once.
    if (upstream.destroyed || closed) return close();
    if (lingering) return;
    lingering = true;
    client.destroy();
    // The client left: the instance keeps its end of the socket until the front end ends it.
    clearTimeout(drop);
    clientLeft(lease, options.slotHoldMs, close, (done) => upstream.once("close", done));
  };
  // The client's end is not passed on: the instance learns of it only when the front end ends the request.
  client.on("end", onClientGone).on("close", onClientGone).on("error", onClientGone);
  upstream.on("close", close).on("error", close);
  upstream.once("connect", () => {
    upstream.write(requestHead(req));
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream, { end: false });
    if (!cookie) {
      upstream.pipe(client);
      return;
    }
    // Add the affinity cookie to the container's handshake answer, then pass bytes through untouched.
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      upstream.off("data", onData);
      const answerHead = buffered.subarray(0, end).toString("latin1");
      client.write(Buffer.concat([Buffer.from(`${answerHead}\r\nSet-Cookie: ${cookie}\r\n\r\n`, "latin1"), buffered.subarray(end + 4)]));
      upstream.pipe(client);
    };
    upstream.on("data", onData);
  });
}
