/**
 * @module
 * What serves calls: the contract between the RPC layer and whoever hosts an endpoint (a machine, or a
 * driver that accepts calls back). It lives here, with the layer that implements it, so the RPC layer
 * depends on nothing above it.
 */
import type { Hono } from "hono";
import type { RpcPeer } from "./peer.ts";
import type { Dispatcher, Link } from "./types.ts";

/** What a request check reads of a request's headers: a fetch `Headers`, or a lighter stand-in. */
export type HeaderReader = Pick<Headers, "get">;

/** The server a machine (or a driver that accepts calls) exposes: RPC over HTTP and tunnels. */
export interface RpcEndpoint {
  /** The HTTP face: `POST /bigrpc/Service.method` and the tunnel upgrade route. */
  readonly app: Hono<any, any, any>;
  /**
   * Serves calls arriving over an already-established link (in-memory or an accepted tunnel). The
   * returned peer can also call the other side over the same link.
   */
  accept(link: Link): RpcPeer;
  /** The dispatcher behind both faces. */
  readonly dispatcher: Dispatcher;
  /**
   * Checks the headers of a tunnel's upgrade before it is taken (plain requests are checked by the
   * app itself); without it every upgrade is taken.
   */
  readonly authorize?: (headers: HeaderReader) => boolean;
}
