import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { MAX_REFUSAL_BODY_BYTES, refusalBody } from "./refusal-body.ts";

const asResponse = (stream: PassThrough) => stream as unknown as IncomingMessage;

describe("refusalBody", () => {
  it("keeps only the start of a long body", async () => {
    const res = new PassThrough();
    const body = refusalBody(asResponse(res));
    res.write(Buffer.alloc(300, "a"));
    res.write(Buffer.alloc(300, "b"));
    res.end(Buffer.alloc(300, "c"));
    const kept = await body;
    expect(kept.byteLength).toBe(MAX_REFUSAL_BODY_BYTES);
    expect(kept.toString()).toBe("a".repeat(300) + "b".repeat(MAX_REFUSAL_BODY_BYTES - 300));
  });

  it("settles with what arrived when the body fails midway", async () => {
    const res = new PassThrough();
    const body = refusalBody(asResponse(res));
    res.write("partial");
    await new Promise((resolve) => setImmediate(resolve));
    res.destroy(new Error("connection reset"));
    expect((await body).toString()).toBe("partial");
  });
});
