/**
 * @module
 * One REST exchange as Google's front end handles it: the request's query parameters and JSON body,
 * read strictly (malformed JSON is an INVALID_ARGUMENT), and the reply, rendered in proto3 JSON with
 * enums as names or numbers and pretty-printed unless `$prettyPrint=0`; failures in Google's error
 * format.
 */
import type { Context } from "hono";
import { ApiError } from "./api-error.ts";
import type { JsonObject, ProtoJson } from "./proto-json.ts";
import { bindQuery, replyFormat, type ReplyFormat } from "./request-query.ts";

/** A request being answered. */
export class Exchange {
  readonly query: URLSearchParams;
  readonly format: ReplyFormat;

  constructor(
    readonly json: ProtoJson,
    readonly context: Context,
  ) {
    this.query = new URL(context.req.url).searchParams;
    this.format = replyFormat(this.query);
  }

  /** The query parameters bound to `requestType`, with `bound` fields (set by path or body) refused. */
  params(requestType: string, bound: readonly string[]): Record<string, any> {
    return bindQuery(this.json, requestType, this.query, bound);
  }

  /** The body as JSON (`{}` when empty); malformed JSON is an INVALID_ARGUMENT. */
  async body(): Promise<unknown> {
    const text = await this.context.req.text();
    if (text.trim() === "") return {};
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ApiError("INVALID_ARGUMENT", `Invalid JSON payload received. ${(error as Error).message}.`);
    }
  }

  /**
   * The body as a whole request message of `requestType` (methods whose body is `*`, so no query
   * parameter but system ones is allowed); the field the path binds (`pathField`) may not be given again.
   */
  async bodyMessage(requestType: string, pathField: string): Promise<Record<string, any>> {
    this.params(requestType, [...this.json.schema.message(requestType).fields.keys()]);
    const body = await this.body();
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ApiError("INVALID_ARGUMENT", "Invalid JSON payload received. Expected a JSON object.");
    }
    if (pathField in body) {
      throw new ApiError("INVALID_ARGUMENT", `Invalid JSON payload received. Field "${pathField}" is already bound by the URL path.`);
    }
    return this.json.parseMessage(requestType, body, "");
  }

  /** The caller's bearer token, if any. */
  get authorization(): string | undefined {
    return this.context.req.header("authorization");
  }

  /** A 200 reply with canonical `message` of type `typeName`. */
  reply(typeName: string, message: object): Response {
    return this.#send(200, this.json.render(typeName, message as JsonObject, this.format));
  }

  /** The reply for a failure. */
  fail(error: unknown): Response {
    const apiError = error instanceof ApiError ? error : new ApiError("INTERNAL", `Internal error: ${(error as Error)?.message ?? String(error)}`);
    return this.#send(apiError.httpStatus, apiError.toBody());
  }

  #send(status: number, body: unknown): Response {
    const text = this.format.pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body);
    return new Response(`${text}\n`, { status, headers: { "content-type": "application/json; charset=UTF-8" } });
  }
}
