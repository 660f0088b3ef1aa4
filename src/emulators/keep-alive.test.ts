/**
 * Idle keep-alive connections stay open as long as Google's front ends keep them (610 s), on the API
 * endpoints and on service URLs, so a client reusing one is not reset as a 5-second timeout would.
 */
import http from "node:http";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { serveApp } from "./serve.ts";
import { startFrontEnd } from "./serving/front-end.ts";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** The `Keep-Alive` header of a keep-alive GET to `url`. */
function keepAliveHeader(url: string): Promise<string | undefined> {
  const agent = new http.Agent({ keepAlive: true });
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.once("end", () => {
          agent.destroy();
          resolve(res.headers["keep-alive"] as string | undefined);
        });
      })
      .once("error", reject);
  });
}

describe("keep-alive", () => {
  it("keeps idle connections to an API endpoint 610 s", async () => {
    const app = new Hono();
    app.get("/", (c) => c.text("ok"));
    const served = await serveApp(app);
    closers.push(() => served.close());
    expect(await keepAliveHeader(served.url)).toBe("timeout=610");
  });

  it("keeps idle connections to a service URL 610 s", async () => {
    const frontEnd = await startFrontEnd({
      acquire: () => Promise.reject(new Error("never placed")),
      authorize: () => ({ ok: false, status: 403, message: "no" }),
      affinity: () => ({ enabled: false, honoured: false }),
      ingressNone: () => false,
      timeoutMs: () => 1_000,
      slotHoldMs: () => 0,
      webSocketDropDelayMs: () => undefined,
    });
    closers.push(() => frontEnd.close());
    expect(await keepAliveHeader(frontEnd.url)).toBe("timeout=610");
  });
});
