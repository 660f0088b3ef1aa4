/**
 * @module
 * IAM policies of services, as `getIamPolicy` / `setIamPolicy` / `testIamPermissions` keep them: a new
 * service's policy is empty (etag `ACAB`, as Google's empty policies have); `setIamPolicy` replaces the
 * whole policy, checks roles and members, merges bindings of the same role, rejects a stale etag with
 * ABORTED, and mints a new etag. The emulator does not authenticate callers, so `testIamPermissions`
 * grants every Cloud Run service permission asked about. Each change is reported to a listener (the
 * propagation to the serving plane).
 */
import { randomBytes } from "node:crypto";
import type { IamPolicy } from "../contracts.ts";
import { ApiError, invalidField } from "./api-error.ts";

type Json = Record<string, any>;
/** A role binding; conditional bindings carry a `google.type.Expr`. */
type Binding = NonNullable<IamPolicy["bindings"]>[number] & { condition?: Json };

/** The etag of a policy that was never set. */
export const EMPTY_POLICY_ETAG = "ACAB";
/** Permissions a caller can hold on a Cloud Run service. */
export const SERVICE_PERMISSIONS = [
  "run.services.get",
  "run.services.update",
  "run.services.delete",
  "run.services.getIamPolicy",
  "run.services.setIamPolicy",
  "run.routes.invoke",
] as const;

const ROLE = /^(roles\/[A-Za-z0-9_.]+|(projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]+)$/;
const MEMBER = /^(allUsers|allAuthenticatedUsers|(deleted:)?(user|serviceAccount|group):[^@\s]+@[^@\s]+|domain:[^\s@]+\.[^\s@]+|principal(Set)?:\/\/\S+|project(Owner|Editor|Viewer):\S+)$/;
const PERMISSION = /^[a-z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+){2}$/;
const POLICY_VERSIONS = [0, 1, 3];

/** Hears of every stored change, e.g. to propagate it. */
export interface PolicyListener {
  changed(resource: string, policy: IamPolicy): void;
  deleted(resource: string): void;
}

/** Policies by resource name. */
export class IamPolicies {
  readonly #policies = new Map<string, IamPolicy>();

  constructor(private readonly listener?: PolicyListener) {}

  /** The policy of `resource` (the empty policy if none was set), for a policy `requestedVersion`. */
  get(resource: string, requestedVersion = 0): IamPolicy {
    if (!POLICY_VERSIONS.includes(requestedVersion)) {
      throw invalidField("options.requested_policy_version", `Invalid requested policy version ${requestedVersion}: it must be 0, 1 or 3.`);
    }
    return structuredClone(this.#policies.get(resource) ?? { version: 1, etag: EMPTY_POLICY_ETAG });
  }

  /**
   * Replaces the policy of `resource` with `policy` (canonical proto3 JSON of `google.iam.v1.Policy`)
   * and returns the stored one. A policy carrying an etag must carry the current one.
   */
  set(resource: string, policy: Json): IamPolicy {
    const current = this.get(resource);
    if (policy.etag !== undefined && policy.etag !== current.etag) {
      throw new ApiError("ABORTED", "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.");
    }
    const bindings = mergeBindings(policy.bindings ?? []);
    const conditional = bindings.some((binding) => binding.condition !== undefined);
    const version = policy.version ?? 0;
    if (!POLICY_VERSIONS.includes(version)) throw invalidField("policy.version", `Invalid policy version ${version}: it must be 0, 1 or 3.`);
    if (conditional && version !== 3) {
      throw invalidField("policy.version", "A policy with conditional role bindings must have version 3.");
    }
    const stored: IamPolicy = { version: conditional ? 3 : 1, etag: newEtag() };
    if (bindings.length > 0) stored.bindings = bindings;
    this.#policies.set(resource, stored);
    this.listener?.changed(resource, stored);
    return structuredClone(stored);
  }

  /** Forgets the policy of `resource` (when the service is deleted). */
  delete(resource: string): void {
    this.#policies.delete(resource);
    this.listener?.deleted(resource);
  }

  /** The subset of `permissions` a caller holds on a service: every Cloud Run service permission asked. */
  test(permissions: readonly string[]): string[] {
    for (const [index, permission] of permissions.entries()) {
      if (permission.includes("*")) {
        throw invalidField(`permissions[${index}]`, `Permissions ('${permission}') with wildcards (such as '*' or 'storage.*') are not allowed.`);
      }
      if (!PERMISSION.test(permission)) throw invalidField(`permissions[${index}]`, `Permission ${permission} is not valid.`);
    }
    return [...new Set(permissions)].filter((permission) => (SERVICE_PERMISSIONS as readonly string[]).includes(permission));
  }
}

/** Checks bindings and merges those with the same role and condition; members sorted and unique. */
function mergeBindings(bindings: Json[]): Binding[] {
  const merged = new Map<string, { role: string; members: Set<string>; condition?: Json }>();
  bindings.forEach((binding, index) => {
    const at = `policy.bindings[${index}]`;
    if (!binding.role) throw invalidField(`${at}.role`, `Violation in SetIamPolicyRequest.${at}.role: required field not present.`);
    if (!ROLE.test(binding.role)) throw invalidField(`${at}.role`, `Role ${binding.role} is not a valid role name.`);
    for (const member of binding.members ?? []) {
      if (!MEMBER.test(member)) throw invalidField(`${at}.members`, `Invalid member '${member}' in the binding of ${binding.role}.`);
    }
    const key = JSON.stringify([binding.role, binding.condition ?? null]);
    const entry = merged.get(key) ?? { role: binding.role, members: new Set<string>(), condition: binding.condition };
    for (const member of binding.members ?? []) entry.members.add(member);
    merged.set(key, entry);
  });
  return [...merged.values()]
    .filter((entry) => entry.members.size > 0)
    .map((entry) => ({
      role: entry.role,
      members: [...entry.members].sort(),
      ...(entry.condition ? { condition: entry.condition } : {}),
    }));
}

/** An opaque policy etag: base64 of 8 random bytes, as the `bytes` field travels in JSON. */
function newEtag(): string {
  return randomBytes(8).toString("base64");
}
