/**
 * @module
 * {@link RpcServer}: the serving end of the RPC layer. Its hono app is the HTTP face (plain calls and the
 * upgrade route that turns a request into a link); {@link RpcServer.accept} serves calls over any link,
 * whether it came through that route or is an in-memory pair.
 */
import { Hono } from "hono";
import { errorOf } from "../errors.ts";
import type { HeaderReader, RpcEndpoint } from "./endpoint.ts";
import { ErrorReplies, type ErrorRepliesOptions } from "./error-replies.ts";
import { errorResponse, serveHttpCall } from "./http-face.ts";
import { RpcPeer } from "./peer.ts";
import { ATTACH_PATH, DEFAULT_MAX_MESSAGE_BYTES, RPC_PATH_PREFIX } from "./protocol.ts";
import { StatsTable } from "./stats.ts";
import type { Dispatcher, Link, MethodStats } from "./types.ts";

/** Options for {@link RpcServer}. */
export interface RpcServerOptions {
  /** Serves every call, from either face. */
  dispatcher: Dispatcher;
  /** Checks a request's headers; false answers 401 before anything runs (plain calls and upgrades). */
  authorize?: (headers: HeaderReader) => boolean;
  /** Largest single (non-streamed) argument or reply; default 64 MiB. */
  maxMessageBytes?: number;
  /** Whether error replies carry stacks (default not), and where failures are logged. */
  errors?: ErrorRepliesOptions;
}

/** Serves calls over links and plain HTTP requests, with statistics of both by method. */
export class RpcServer implements RpcEndpoint {
  /** `POST /bigrpc/:method` and `GET /bigrpc/attach` (the WebSocket upgrade). */
  readonly app: Hono;
  /** Checks a tunnel upgrade's headers (the listener asks before it takes one). */
  readonly authorize: ((headers: HeaderReader) => boolean) | undefined;
  readonly dispatcher: Dispatcher;
  /** The error-reply policy of every face and link of this server; set `stacks` to change it for all. */
  readonly errorReplies: ErrorReplies;
  readonly #maxMessageBytes: number;
  readonly #stats = new StatsTable();
  readonly #peers = new Set<RpcPeer>();

  constructor(options: RpcServerOptions) {
    this.dispatcher = options.dispatcher;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const authorize = options.authorize;
    this.authorize = authorize;
    this.errorReplies = new ErrorReplies(options.errors);
    const face = { dispatcher: this.dispatcher, stats: this.#stats, maxMessageBytes: this.#maxMessageBytes, errors: this.errorReplies };

    const app = new Hono();
    if (authorize !== undefined) {
      app.use(`${RPC_PATH_PREFIX}*`, async (c, next) => {
        if (!authorize(c.req.raw.headers)) return errorResponse(errorOf("unauthorized", "missing or wrong credentials"));
        await next();
      });
    }
    // Upgrades of the attach route are taken by the listener (`node-server.ts`) before the app sees them.
    app.get(ATTACH_PATH, () => errorResponse(errorOf("invalid", `${ATTACH_PATH} only accepts WebSocket upgrades`, { severity: "fatal" }), 426));
    app.post(`${RPC_PATH_PREFIX}:method`, (c) => serveHttpCall(face, c.req.param("method"), c.req.raw));
    this.app = app;
  }

  /** Live accepted peers: the links being served. */
  get peers(): ReadonlySet<RpcPeer> {
    return this.#peers;
  }

  /** Serves calls arriving on `link`; the returned peer can also call the other side. */
  accept(link: Link): RpcPeer {
    const peer = new RpcPeer(link, { dispatcher: this.dispatcher, maxMessageBytes: this.#maxMessageBytes, servedStats: this.#stats, errorReplies: this.errorReplies });
    this.#peers.add(peer);
    void peer.closed.then(() => this.#peers.delete(peer));
    return peer;
  }

  /** Served calls by method, over links and plain requests together. */
  stats(): Record<string, MethodStats> {
    return this.#stats.snapshot();
  }

  /** Closes every accepted link; calls being served see their signals abort. */
  close(): void {
    for (const peer of [...this.#peers]) peer.close("server closed");
  }
}
