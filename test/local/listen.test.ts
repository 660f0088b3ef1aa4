/**
 * The local system's own serving and client: listenAndServe on loopback, the client adding the secret,
 * and the errors for addresses it refuses or cannot reach.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decode, encode, MSGPACK_CONTENT_TYPE, RpcServer, secretAuthorizer, type Listener } from "../../src/system-api.ts";
import { testLocalSystem } from "./helpers.ts";

describe("local system serving and client", () => {
  let listener: Listener | undefined;

  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  it("serves an endpoint on a free loopback port that its client reaches with the secret", async () => {
    const system = testLocalSystem();
    await system.init({ role: "driver", secret: "listen-secret" });
    const server = new RpcServer({
      dispatcher: { dispatch: async (method, arg) => ({ method, arg }) },
      authorize: secretAuthorizer("listen-secret"),
    });
    listener = await system.listenAndServe("", server);
    expect(listener.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    const response = await system.httpClient().fetch(listener.addr, "/bigrpc/Any.thing", { method: "POST", body: encode([1, 2]), headers: { "content-type": MSGPACK_CONTENT_TYPE } });
    expect(response.status).toBe(200);
    expect(decode(new Uint8Array(await response.arrayBuffer()))).toEqual({ method: "Any.thing", arg: [1, 2] });
    const link = await system.httpClient().connect(listener.addr);
    link.close();
  });

  it("refuses non-loopback addresses and reports unreachable ones as net errors", async () => {
    const system = testLocalSystem();
    await system.init({ role: "driver", secret: "s" });
    const server = new RpcServer({ dispatcher: { dispatch: async () => null } });
    await expect(system.listenAndServe("0.0.0.0:0", server)).rejects.toMatchObject({ kind: "invalid" });
    await expect(system.httpClient().fetch("example.test:80", "/x")).rejects.toMatchObject({ kind: "invalid" });
    await expect(system.httpClient().connect("10.0.0.1:80")).rejects.toMatchObject({ kind: "invalid" });
    // Bind a port, free it, and dial it: nothing listens there.
    listener = await system.listenAndServe("", server);
    const freed = listener.addr;
    await listener.close();
    listener = undefined;
    await expect(system.httpClient().fetch(freed, "/bigrpc/X.y", { method: "POST" })).rejects.toMatchObject({ kind: "net" });
    await expect(system.httpClient().connect(freed)).rejects.toMatchObject({ kind: "net" });
  });

  it("refuses to start machines or talk to them before a session initialized it", async () => {
    const system = testLocalSystem();
    await expect(system.start(1)).rejects.toMatchObject({ kind: "precondition" });
    await expect(system.httpClient().fetch("127.0.0.1:1", "/x")).rejects.toMatchObject({ kind: "precondition" });
    await system.init({ role: "driver", secret: "a" });
    await system.init({ role: "driver", secret: "a" });
    await expect(system.init({ role: "driver", secret: "b" })).rejects.toMatchObject({ kind: "precondition" });
  });
});
