/**
 * @module
 * The HTTP face of the Logging emulator: Google's REST paths, JSON bodies, and every failure in
 * Google's JSON error format with the matching HTTP status. The app holds no state; it hands parsed
 * bodies to a {@link LoggingApi} and turns its answers and errors into replies.
 */
import { Hono, type Context } from "hono";
import { ApiError, invalidArgument } from "./api-error.ts";

/** What the REST routes call. Methods throw {@link ApiError} for the client to see. */
export interface LoggingApi {
  /** `POST /v2/entries:write`: returns the reply body (`{}`). */
  writeEntries(body: unknown): Record<string, unknown>;
  /** `POST /v2/entries:list`: returns `{entries, nextPageToken}`. */
  listEntries(body: unknown): Record<string, unknown>;
}

/** Google's limit on an `entries:write` request body, which the emulator applies to every body. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

type Route = (api: LoggingApi, body: unknown) => Record<string, unknown>;

// Matched exactly, by path: a ":" inside a segment is not a route parameter here.
const ROUTES: Record<string, Route> = {
  "/v2/entries:write": (api, body) => api.writeEntries(body),
  "/v2/entries:list": (api, body) => api.listEntries(body),
  "/v2/entries:tail": () => {
    throw new ApiError(
      "UNIMPLEMENTED",
      "entries:tail is a bidirectional streaming method, available over gRPC only; poll entries:list instead",
    );
  },
};

/** A hono app serving the Logging v2 REST API over `api`. */
export function createLoggingApp(api: LoggingApi): Hono {
  const app = new Hono();
  app.all("*", async (c) => {
    const route = ROUTES[c.req.path];
    if (!route || c.req.method !== "POST") throw notFound(c);
    const body = await readJsonBody(c);
    return c.json(route(api, body));
  });
  app.onError((err, c) => {
    const apiError = err instanceof ApiError ? err : new ApiError("INTERNAL", `Internal error: ${err.message}`);
    return c.json(apiError.toBody(), apiError.httpStatus);
  });
  return app;
}

function notFound(c: Context): ApiError {
  return new ApiError("NOT_FOUND", `The requested URL ${c.req.method} ${c.req.path} was not found on this server.`);
}

async function readJsonBody(c: Context): Promise<unknown> {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_REQUEST_BYTES) throw tooLarge();
  const text = await c.req.text();
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) throw tooLarge();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`Invalid JSON payload received. ${(err as Error).message}`);
  }
}

function tooLarge(): ApiError {
  return invalidArgument(`Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`);
}
