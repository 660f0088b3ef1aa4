/** IAM propagation on a controlled clock: a change is enforced only after the delay, changes apply in order. */
import { describe, expect, it } from "vitest";
import type { IamPolicy } from "../contracts.ts";
import { PropagatingPolicies } from "./iam-propagation.ts";

const SERVICE = "projects/p/locations/l/services/s";
const policy = (member: string): IamPolicy => ({ version: 1, etag: member, bindings: [{ role: "roles/run.invoker", members: [member] }] });

describe("PropagatingPolicies", () => {
  it("enforces a change only once its delay has passed", () => {
    let now = 1_000;
    const policies = new PropagatingPolicies(120_000, () => now);
    expect(policies.enforced(SERVICE)).toBeUndefined();
    policies.changed(SERVICE, policy("allUsers"));
    expect(policies.pending(SERVICE)).toBe(true);
    now += 119_999;
    expect(policies.enforced(SERVICE)).toBeUndefined();
    now += 1;
    expect(policies.enforced(SERVICE)).toEqual(policy("allUsers"));
    expect(policies.pending(SERVICE)).toBe(false);
  });

  it("keeps enforcing the old policy while a revocation travels, and applies changes in order", () => {
    let now = 0;
    const policies = new PropagatingPolicies(100, () => now);
    policies.changed(SERVICE, policy("user:a@x.com"));
    now = 100;
    policies.changed(SERVICE, policy("user:b@x.com"));
    // A shorter delay later does not let the next change overtake the one before it.
    policies.delayMs = 10;
    now = 150;
    policies.changed(SERVICE, policy("user:c@x.com"));
    expect(policies.enforced(SERVICE)).toEqual(policy("user:a@x.com"));
    now = 200;
    expect(policies.enforced(SERVICE)).toEqual(policy("user:c@x.com"));
  });

  it("propagates everything at once on demand, and forgets a deleted service", () => {
    const policies = new PropagatingPolicies(60_000);
    policies.changed(SERVICE, policy("allUsers"));
    policies.propagateNow();
    expect(policies.enforced(SERVICE)).toEqual(policy("allUsers"));
    policies.deleted(SERVICE);
    expect(policies.enforced(SERVICE)).toBeUndefined();
  });
});
