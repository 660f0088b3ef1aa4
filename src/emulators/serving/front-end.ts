/**
 * @module
 * A service's URL: a loopback HTTP server that checks each request (ingress, then the invoker check),
 * places it (or a WebSocket upgrade) on an instance, and proxies it there with streaming bodies both
 * ways, never buffering. It enforces the request timeout (504 if the container has not answered yet,
 * else the connection is cut; an upgraded socket is closed), holds the slot of a client that left for a
 * while, and sets the session-affinity cookie.
 *
 * Replies it makes itself: 404 when ingress is NONE; 401/403 from the invoker check; 429 when no
 * instance could take the request within the queue timeout; 503 when the instance failed to start or
 * broke the connection; 504 on the request timeout.
 */
import http from "node:http";
import type net from "node:net";
import { KEEP_ALIVE_TIMEOUT_MS } from "../serve.ts";
import type { AuthVerdict } from "./auth.ts";
import { affinityCookieOf, setAffinityCookie } from "./affinity.ts";
import { PoolClosedError, QueueTimeoutError, StartFailedError, type Lease } from "./pool.ts";
import { proxyRequest, proxyUpgrade, type ProxyLimits } from "./proxy.ts";

export { AFFINITY_COOKIE } from "./affinity.ts";

/** What the front end asks of its service at each request (the revision can change between requests). */
export interface FrontEndTarget {
  /** A slot on an instance, preferring `preferred`; see {@link InstancePool.acquire}. */
  acquire(preferred: string | undefined, signal: AbortSignal): Promise<Lease>;
  authorize(headers: http.IncomingHttpHeaders): AuthVerdict;
  /**
   * Session affinity now: `enabled` when the serving revision has it (answers then set the cookie),
   * `honoured` when, besides, the cookie steers placement (not broken by a fault switch).
   */
  affinity(): { enabled: boolean; honoured: boolean };
  ingressNone(): boolean;
  /** The serving revision's request timeout. */
  timeoutMs(): number;
  /** How long a request whose client left keeps its slot (see `proxy.ts`). */
  slotHoldMs(): number;
  /** When a WebSocket just opened is dropped at random (chaos); undefined: never. */
  webSocketDropDelayMs(): number | undefined;
}

/** A running front end. */
export interface FrontEnd {
  /** `http://127.0.0.1:PORT`: the service URL, and the audience its ID tokens carry. */
  readonly url: string;
  /** Stops listening and destroys every connection, upgraded ones included. Idempotent. */
  close(): Promise<void>;
}

type Reject = (status: number, message: string) => void;

function plainReply(res: http.ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(`${message}\n`);
}

function rawReply(socket: net.Socket, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Checks a request and takes a slot for it; answers it (and resolves undefined) when it cannot go through. */
async function admit(
  target: FrontEndTarget,
  req: http.IncomingMessage,
  signal: AbortSignal,
  reject: Reject,
): Promise<Lease | undefined> {
  if (target.ingressNone()) return void reject(404, "Not Found: this service accepts no traffic (ingress is NONE).");
  const verdict = target.authorize(req.headers);
  if (!verdict.ok) return void reject(verdict.status, verdict.message);
  const preferred = target.affinity().honoured ? affinityCookieOf(req.headers.cookie) : undefined;
  try {
    return await target.acquire(preferred, signal);
  } catch (err) {
    if (signal.aborted) return undefined;
    if (err instanceof QueueTimeoutError) {
      return void reject(429, `Rate exceeded: the request was aborted because there was no available instance (${err.message}).`);
    }
    if (err instanceof StartFailedError || err instanceof PoolClosedError) {
      return void reject(503, `Service Unavailable: ${err.message}`);
    }
    throw err;
  }
}

/** The cookie to set on the answer, when affinity is on and the client's cookie names another instance. */
function cookieFor(target: FrontEndTarget, req: http.IncomingMessage, lease: Lease): string | undefined {
  if (!target.affinity().enabled || affinityCookieOf(req.headers.cookie) === lease.instance.id) return undefined;
  return setAffinityCookie(lease.instance.id);
}

/** Starts the front end of one service on a loopback port. */
export async function startFrontEnd(target: FrontEndTarget): Promise<FrontEnd> {
  const upgraded = new Set<net.Socket>();
  const limits = (): ProxyLimits => ({ timeoutMs: target.timeoutMs(), slotHoldMs: target.slotHoldMs() });

  const server = http.createServer((req, res) => {
    // A client that leaves while its request is queued gives up its place.
    const gone = new AbortController();
    res.once("close", () => gone.abort(new Error("the client went away")));
    admit(target, req, gone.signal, (status, message) => plainReply(res, status, message)).then(
      (lease) => {
        if (!lease) return;
        if (gone.signal.aborted) return lease.release();
        proxyRequest({ req, res, lease, cookie: cookieFor(target, req, lease), ...limits() });
      },
      (err: Error) => plainReply(res, 500, `Internal error: ${err.message}`),
    );
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    upgraded.add(socket);
    const gone = new AbortController();
    socket.once("close", () => {
      upgraded.delete(socket);
      gone.abort(new Error("the client went away"));
    });
    socket.on("error", () => socket.destroy());
    admit(target, req, gone.signal, (status, message) => rawReply(socket, status, message)).then(
      (lease) => {
        if (!lease) return;
        if (gone.signal.aborted) return lease.release();
        const dropAfterMs = target.webSocketDropDelayMs();
        proxyUpgrade({ req, client: socket, head, lease, cookie: cookieFor(target, req, lease), ...limits(), dropAfterMs });
      },
      (err: Error) => rawReply(socket, 500, `Internal error: ${err.message}`),
    );
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  // As Google's front ends do (see serve.ts): idle connections are not closed under a reusing client.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
      })),
  };
}
