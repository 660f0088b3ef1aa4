import { describe, expect, it } from "vitest";
import { ApiError } from "./api-error.ts";
import { createLoggingApp, type LoggingApi } from "./app.ts";

describe("createLoggingApp", () => {
  it("passes parsed bodies to the API, treating an empty body as {}", async () => {
    const seen: unknown[] = [];
    const app = createLoggingApp({
      writeEntries: (body) => (seen.push(body), {}),
      listEntries: (body) => (seen.push(body), { entries: [] }),
    });
    expect(await (await app.request("/v2/entries:write", { method: "POST", body: '{"a":1}' })).json()).toEqual({});
    expect(await (await app.request("/v2/entries:list", { method: "POST" })).json()).toEqual({ entries: [] });
    expect(seen).toEqual([{ a: 1 }, {}]);
  });

  it("turns API errors into their status, other failures into 500 INTERNAL, and keeps serving", async () => {
    let failure: Error = new ApiError("PERMISSION_DENIED", "not yours");
    const api: LoggingApi = {
      writeEntries: () => {
        throw failure;
      },
      listEntries: () => ({}),
    };
    const app = createLoggingApp(api);
    const denied = await app.request("/v2/entries:write", { method: "POST", body: "{}" });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({ error: { code: 403, message: "not yours", status: "PERMISSION_DENIED" } });

    failure = new RangeError("boom");
    const broken = await app.request("/v2/entries:write", { method: "POST", body: "{}" });
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ error: { code: 500, message: "Internal error: boom", status: "INTERNAL" } });

    expect((await app.request("/v2/entries:list", { method: "POST", body: "{}" })).status).toBe(200);
  });

  it("matches custom-method paths exactly, not as route parameters", async () => {
    const app = createLoggingApp({ writeEntries: () => ({}), listEntries: () => ({}) });
    expect((await app.request("/v2/entries:anything", { method: "POST" })).status).toBe(404);
    expect((await app.request("/v2/entries:write/", { method: "POST" })).status).toBe(404);
  });
});
