/**
 * @module
 * Serves a hono app on a loopback port, the way every emulator endpoint is exposed.
 */
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";

/** A running HTTP endpoint. */
export interface ServedApp {
  /** `http://HOST:PORT`, no trailing slash. */
  readonly url: string;
  /** `HOST:PORT`, the form `*_EMULATOR_HOST` variables take. */
  readonly hostPort: string;
  readonly port: number;
  /** The underlying Node server, for upgrade handlers. */
  readonly server: import("node:http").Server;
  /** Stops listening and destroys open connections. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@link serveApp}. */
export interface ServeOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; loopback by default. */
  host?: string;
}

/**
 * How long an idle keep-alive connection stays open: Google's front ends keep a client's connection
 * 610 s. Node's default, 5 s, races clients that reuse a connection just as the server closes it,
 * resetting requests Google would have served.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 610_000;

/** Listens with `app` on loopback and resolves once the port is bound. */
export async function serveApp(app: Hono<any, any, any>, options: ServeOptions = {}): Promise<ServedApp> {
  const host = options.host ?? "127.0.0.1";
  const server = createAdaptorServer({ fetch: app.fetch }) as import("node:http").Server;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    hostPort: `${host}:${port}`,
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
