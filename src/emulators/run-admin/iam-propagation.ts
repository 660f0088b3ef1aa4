/**
 * @module
 * IAM is eventually consistent: a change to a service's policy is returned by `getIamPolicy` at once,
 * but the front end enforces it only once it has propagated, "typically 2 minutes, potentially 7
 * minutes or longer" (Google's access-change-propagation page). This keeps, per service, the policy
 * the front end enforces and the changes still on their way, each applying `delayMs` after it was made;
 * a grant and a revocation, for `allUsers` or any member, travel alike.
 */
import type { IamPolicy } from "../contracts.ts";

/** Google's typical propagation time for a policy change. */
export const IAM_PROPAGATION_DEFAULT_MS = 120_000;

interface Change {
  policy: IamPolicy;
  /** Clock time (ms) from which the front end enforces it. */
  appliesAt: number;
}

/** The policies the front end enforces, lagging the stored ones. */
export class PropagatingPolicies {
  /** Delay of changes made from now on; changeable at run time. */
  delayMs: number;
  readonly #now: () => number;
  /** Per service: the enforced policy first, then changes in the order they were made. */
  readonly #changes = new Map<string, Change[]>();

  constructor(delayMs = IAM_PROPAGATION_DEFAULT_MS, now: () => number = Date.now) {
    this.delayMs = delayMs;
    this.#now = now;
  }

  /** A new policy of `resource` was stored; it is enforced after the delay. */
  changed(resource: string, policy: IamPolicy): void {
    const changes = this.#changes.get(resource) ?? [];
    // Later changes never overtake earlier ones, even if the delay was shortened in between.
    const earliest = changes.at(-1)?.appliesAt ?? 0;
    changes.push({ policy: structuredClone(policy), appliesAt: Math.max(earliest, this.#now() + this.delayMs) });
    this.#changes.set(resource, changes);
  }

  /** The service is gone; a new one of the same name starts with an empty policy, enforced at once. */
  deleted(resource: string): void {
    this.#changes.delete(resource);
  }

  /** The policy the front end enforces now (undefined: the empty policy, never changed or not yet propagated). */
  enforced(resource: string): IamPolicy | undefined {
    const changes = this.#changes.get(resource);
    if (!changes) return undefined;
    const now = this.#now();
    let applied = -1;
    for (let i = 0; i < changes.length && changes[i]!.appliesAt <= now; i++) applied = i;
    // Changes superseded by a later applied one are forgotten.
    if (applied > 0) changes.splice(0, applied);
    return applied >= 0 ? structuredClone(changes[0]!.policy) : undefined;
  }

  /** Whether some change of `resource` has not propagated yet. */
  pending(resource: string): boolean {
    const changes = this.#changes.get(resource) ?? [];
    return changes.some((change) => change.appliesAt > this.#now());
  }

  /** Makes every change made so far enforced at once (a switch for tests). */
  propagateNow(): void {
    const now = this.#now();
    for (const changes of this.#changes.values()) for (const change of changes) change.appliesAt = Math.min(change.appliesAt, now);
  }
}
