import { describe, expect, it } from "vitest";
import { decode, encode } from "./codec.ts";
import { MSGPACK_CONTENT_TYPE } from "./protocol.ts";
import { RpcServer } from "./server.ts";
import { testDispatcher } from "./test-dispatcher.ts";

const SECRET = "s3cret";

function server(maxMessageBytes?: number) {
  const { dispatcher, log } = testDispatcher();
  const rpc = new RpcServer({ dispatcher, maxMessageBytes, authorize: (headers) => headers.get("x-secret") === SECRET });
  const post = (method: string, body?: Uint8Array, headers: Record<string, string> = { "x-secret": SECRET }) =>
    rpc.app.request(`/bigrpc/${method}`, { method: "POST", body, headers: { "content-type": MSGPACK_CONTENT_TYPE, ...headers } });
  return { rpc, log, post };
}

async function decoded(res: Response): Promise<any> {
  return decode(new Uint8Array(await res.arrayBuffer()));
}

describe("RpcServer HTTP face", () => {
  it("answers 200 with the encoded reply", async () => {
    const { post } = server();
    const res = await post("T.echo", encode({ at: new Date(7), n: 3n }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(MSGPACK_CONTENT_TYPE);
    expect(await decoded(res)).toEqual({ at: new Date(7), n: 3n });
  });

  it("takes an empty body as an undefined argument", async () => {
    const { post } = server();
    const res = await post("T.echo");
    expect(res.status).toBe(200);
    expect(await decoded(res)).toBeUndefined();
  });

  it("answers 590 with the method's error", async () => {
    const { post } = server();
    const res = await post("T.fail", encode({ kind: "precondition", message: "not yet", severity: "retriable" }));
    expect(res.status).toBe(590);
    expect(await decoded(res)).toMatchObject({ kind: "precondition", message: "not yet", severity: "retriable" });
  });

  it("answers a method's failure without its stack, logs it, and adds the stack once asked to", async () => {
    const logged: string[] = [];
    const { dispatcher } = testDispatcher();
    const rpc = new RpcServer({ dispatcher, errors: { log: (method, err) => logged.push(`${method}: ${(err as Error).stack}`) } });
    const post = () => rpc.app.request("/bigrpc/T.throwPlain", { method: "POST", headers: { "content-type": MSGPACK_CONTENT_TYPE } });
    const bare = await post();
    expect(bare.status).toBe(590);
    const body = await decoded(bare);
    expect(body).toMatchObject({ kind: "other", message: "plain failure", name: "TypeError" });
    expect(body.stack).toBeUndefined();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^T\.throwPlain: TypeError: plain failure\n\s+at /);
    rpc.errorReplies.stacks = true;
    expect((await decoded(await post())).stack).toMatch(/^TypeError: plain failure\n\s+at /);
  });

  it("answers 590 with the dispatcher's not-exist for an unknown method", async () => {
    const { post } = server();
    const res = await post("T.nope", encode(1));
    expect(res.status).toBe(590);
    expect(await decoded(res)).toMatchObject({ kind: "not-exist" });
  });

  it("answers 400 with an invalid error for a malformed body", async () => {
    const { post, log } = server();
    const res = await post("T.echo", new Uint8Array([0x92, 1]));
    expect(res.status).toBe(400);
    expect(await decoded(res)).toMatchObject({ kind: "invalid" });
    expect(log.calls.size).toBe(0);
  });

  it("answers 413 for a body over the limit, by Content-Length and by counting", async () => {
    const { post, log } = server(1000);
    const declared = await post("T.echo", encode(new Uint8Array(5000)));
    expect(declared.status).toBe(413);
    expect(await decoded(declared)).toMatchObject({ kind: "invalid" });
    // A streamed body has no Content-Length: the limit is enforced while reading.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(500));
        controller.close();
      },
    });
    const counted = await server(1000).rpc.app.request("/bigrpc/T.echo", {
      method: "POST",
      body: chunks,
      headers: { "x-secret": SECRET },
      duplex: "half",
    } as RequestInit);
    expect(counted.status).toBe(413);
    expect(log.calls.size).toBe(0);
  });

  it("answers 401 without credentials and dispatches nothing, on both routes", async () => {
    const { post, log, rpc } = server();
    const res = await post("T.echo", encode(1), {});
    expect(res.status).toBe(401);
    expect(await decoded(res)).toMatchObject({ kind: "unauthorized" });
    const wrong = await post("T.echo", encode(1), { "x-secret": "nope" });
    expect(wrong.status).toBe(401);
    const attach = await rpc.app.request("/bigrpc/attach", { headers: { upgrade: "websocket" } });
    expect(attach.status).toBe(401);
    expect(log.calls.size).toBe(0);
    expect(rpc.stats()).toEqual({});
  });

  it("refuses a streamed reply with not-supported and releases the stream", async () => {
    const { post, log } = server();
    const res = await post("T.count", encode({ n: 1_000_000 }));
    expect(res.status).toBe(501);
    expect(await decoded(res)).toMatchObject({ kind: "not-supported" });
    expect(log.produced).toBe(0);
  });

  it("answers 426 to a plain GET of the attach route", async () => {
    const { rpc } = server();
    const res = await rpc.app.request("/bigrpc/attach", { headers: { "x-secret": SECRET } });
    expect(res.status).toBe(426);
  });

  it("counts plain calls in the server's stats", async () => {
    const { post, rpc } = server();
    await post("T.echo", encode("abc"));
    await post("T.nope", encode(1));
    await post("T.echo", new Uint8Array([0xc1]));
    const stats = rpc.stats();
    expect(stats["T.echo"]).toMatchObject({ count: 2, errors: 1 });
    expect(stats["T.echo"].bytesIn).toBeGreaterThan(0);
    expect(stats["T.echo"].bytesOut).toBeGreaterThan(0);
    expect(stats["T.nope"]).toMatchObject({ count: 1, errors: 1 });
  });
});
