/**
 * IAM policies: the empty default, whole-policy replacement with merged bindings, etag checks,
 * validation of roles, members and versions, and permission tests.
 */
import { describe, expect, it } from "vitest";
import { EMPTY_POLICY_ETAG, IamPolicies } from "./iam-policies.ts";

const SERVICE = "projects/p/locations/l/services/s";

describe("IamPolicies", () => {
  it("starts empty, and replaces the whole policy with merged, sorted bindings and a new etag", () => {
    const policies = new IamPolicies();
    expect(policies.get(SERVICE)).toEqual({ version: 1, etag: EMPTY_POLICY_ETAG });
    const first = policies.set(SERVICE, {
      bindings: [
        { role: "roles/run.invoker", members: ["user:b@x.com"] },
        { role: "roles/run.admin", members: ["group:g@x.com"] },
        { role: "roles/run.invoker", members: ["user:a@x.com", "user:b@x.com"] },
        { role: "roles/viewer", members: [] },
      ],
    });
    expect(first.bindings).toEqual([
      { role: "roles/run.invoker", members: ["user:a@x.com", "user:b@x.com"] },
      { role: "roles/run.admin", members: ["group:g@x.com"] },
    ]);
    expect(first.etag).not.toBe(EMPTY_POLICY_ETAG);
    const second = policies.set(SERVICE, { bindings: [{ role: "roles/run.invoker", members: ["allUsers"] }], etag: first.etag });
    expect(policies.get(SERVICE)).toEqual(second);
    expect(second.bindings).toEqual([{ role: "roles/run.invoker", members: ["allUsers"] }]);
    policies.delete(SERVICE);
    expect(policies.get(SERVICE).bindings).toBeUndefined();
  });

  it("refuses a stale etag with ABORTED", () => {
    const policies = new IamPolicies();
    const { etag } = policies.set(SERVICE, {});
    policies.set(SERVICE, { etag });
    expect(() => policies.set(SERVICE, { etag })).toThrow(expect.objectContaining({ code: "ABORTED" }));
  });

  it.each([
    [{ bindings: [{ members: ["allUsers"] }] }],
    [{ bindings: [{ role: "owner", members: ["allUsers"] }] }],
    [{ bindings: [{ role: "roles/run.invoker", members: ["serviceAccount:no-at-sign"] }] }],
    [{ bindings: [{ role: "roles/run.invoker", members: ["everyone"] }] }],
    [{ version: 2 }],
    [{ version: 1, bindings: [{ role: "roles/run.invoker", members: ["allUsers"], condition: { expression: "true" } }] }],
  ])("rejects the invalid policy %j", (policy) => {
    expect(() => new IamPolicies().set(SERVICE, policy)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("accepts custom roles, principal identifiers and conditional bindings at version 3", () => {
    const policy = new IamPolicies().set(SERVICE, {
      version: 3,
      bindings: [
        { role: "projects/p/roles/custom.runner", members: ["principal://iam.googleapis.com/x", "domain:example.com"] },
        { role: "roles/run.invoker", members: ["deleted:user:gone@x.com"], condition: { expression: "request.time < timestamp('2030-01-01T00:00:00Z')" } },
      ],
    });
    expect(policy.version).toBe(3);
    expect(() => new IamPolicies().get(SERVICE, 2)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it("grants the Cloud Run service permissions asked about and refuses wildcards", () => {
    const policies = new IamPolicies();
    expect(policies.test(["run.routes.invoke", "run.services.get", "compute.instances.get", "run.routes.invoke"])).toEqual([
      "run.routes.invoke",
      "run.services.get",
    ]);
    expect(() => policies.test(["run.*"])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => policies.test(["not a permission"])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
