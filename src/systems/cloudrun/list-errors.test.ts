import { describe, expect, it } from "vitest";
import { BigmachineError } from "../../core.ts";
import { classifyListFailure } from "./list-errors.ts";

const classify = (err: unknown) => classifyListFailure(err, "tail of w");

describe("classifyListFailure", () => {
  it("retries the read quota, by gRPC code, HTTP status or status name", () => {
    for (const err of [{ code: 8 }, { status: 429 }, { code: 429 }, { status: "RESOURCE_EXHAUSTED" }]) {
      const failure = classify(Object.assign(new Error("quota"), err));
      expect(failure).toMatchObject({ permanent: false, quota: true, status: "RESOURCE_EXHAUSTED" });
      expect(failure.error).toMatchObject({ kind: "unavailable", severity: "temporary" });
      expect(failure.error.message).toMatch(/^tail of w: the read quota is used up: quota$/);
    }
  });

  it("retries server trouble and failures that name no status", () => {
    for (const err of [{ code: 14 }, { code: 4 }, { code: 13 }, { status: 503 }, { status: 500 }]) {
      expect(classify(Object.assign(new Error("x"), err))).toMatchObject({ permanent: false, quota: false });
    }
    const reset = classify(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    expect(reset).toMatchObject({ permanent: false, status: undefined });
    expect(reset.error).toMatchObject({ kind: "net", severity: "temporary" });
    expect(classify("a string").permanent).toBe(false);
  });

  it("ends the tail on permanent refusals, with a kind that says why", () => {
    const cases: [unknown, string][] = [
      [{ code: 7 }, "unauthorized"],
      [{ code: 16 }, "unauthorized"],
      [{ status: 403 }, "unauthorized"],
      [{ code: 3 }, "invalid"],
      [{ status: 400 }, "invalid"],
      [{ code: 5 }, "not-exist"],
      [{ code: 12 }, "not-supported"],
      [{ status: "FAILED_PRECONDITION" }, "precondition"],
    ];
    for (const [fields, kind] of cases) {
      const cause = Object.assign(new Error("refused"), fields);
      const failure = classify(cause);
      expect(failure.permanent).toBe(true);
      expect(failure.error).toBeInstanceOf(BigmachineError);
      expect(failure.error).toMatchObject({ kind, severity: "fatal", cause });
    }
  });
});
