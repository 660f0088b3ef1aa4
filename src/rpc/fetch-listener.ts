/**
 * @module
 * A `node:http` request listener over a fetch handler (`app.fetch` of a hono app): the request becomes
 * a fetch `Request` (its body streamed, its signal aborted when the client goes away) and the `Response`
 * is written back, its body streamed with backpressure. A machine serves its plain HTTP face this way
 * rather than through @hono/node-server, whose module graph (node's fetch classes at load, `node:http2`)
 * would be loaded by every machine for requests most machines never see.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { once } from "node:events";
import { Readable } from "node:stream";

/** A fetch handler, as `app.fetch` of a hono app. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** The request's headers as fetch `Headers`. */
export function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  if (response.body) {
    for await (const chunk of response.body) {
      if (!res.write(chunk)) await once(res, "drain");
    }
  }
  res.end();
}

/** Serves `fetch` on a `node:http` server. */
export function fetchListener(fetch: FetchHandler): RequestListener {
  return (req, res) => {
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort(new Error("the client went away"));
    });
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    let request: Request;
    try {
      request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
        method: req.method,
        headers: headersOf(req),
        body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
        // A streamed request body needs a half-duplex request.
        ...(hasBody ? { duplex: "half" } : {}),
        signal: aborted.signal,
      } as RequestInit);
    } catch (err) {
      res.writeHead(400).end(`bad request: ${(err as Error).message}`);
      return;
    }
    Promise.resolve()
      .then(() => fetch(request))
      .then((response) => writeResponse(response, res))
      .catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(res.headersSent ? undefined : `internal error: ${err.message}`);
      });
  };
}
