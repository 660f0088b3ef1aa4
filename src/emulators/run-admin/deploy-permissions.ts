/**
 * @module
 * The Admin API's permission check on deploys, when turned on: a service whose template names a
 * service account runs as that account, so whoever creates or updates it needs
 * `iam.serviceAccounts.actAs` on it (the Service Account User role). A caller without it gets Google's
 * 403 PERMISSION_DENIED: "Permission 'iam.serviceaccounts.actAs' denied on service account ACCOUNT
 * (or it may not exist)."
 */
import { ApiError } from "./api-error.ts";

type Json = Record<string, any>;

/** The permission, as IAM names it. */
export const ACT_AS = "iam.serviceAccounts.actAs";

/** Options of the check: who may act as which account. */
export interface DeployPermissionsOptions {
  /**
   * Service account email → IAM members (`user:EMAIL`, `serviceAccount:EMAIL`) who hold
   * `iam.serviceAccounts.actAs` on it. Accounts not listed can be acted as by nobody.
   */
  actAs?: Record<string, string[]>;
}

/** Who may deploy services running as which account. */
export class DeployPermissions {
  readonly #actAs = new Map<string, Set<string>>();

  constructor(options: DeployPermissionsOptions = {}) {
    for (const [account, members] of Object.entries(options.actAs ?? {})) for (const member of members) this.allowActAs(account, member);
  }

  /** Grants `member` (`user:EMAIL` or `serviceAccount:EMAIL`) `iam.serviceAccounts.actAs` on `account`. */
  allowActAs(account: string, member: string): void {
    if (!/^(user|serviceAccount):[^@\s]+@[^@\s]+$/.test(member)) throw new TypeError(`not an IAM member: ${member}`);
    const members = this.#actAs.get(account) ?? new Set<string>();
    members.add(member);
    this.#actAs.set(account, members);
  }

  /** Throws a 403 {@link ApiError} unless `caller` may deploy `spec` (its template's service account). */
  checkDeploy(caller: string, spec: Json): void {
    const account: unknown = spec.template?.serviceAccount;
    if (typeof account !== "string" || account === "") return;
    const members = this.#actAs.get(account);
    if (members?.has(`user:${caller}`) || members?.has(`serviceAccount:${caller}`)) return;
    throw new ApiError("PERMISSION_DENIED", `Permission 'iam.serviceaccounts.actAs' denied on service account ${account} (or it may not exist).`, [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "IAM_PERMISSION_DENIED",
        domain: "iam.googleapis.com",
        metadata: { permission: ACT_AS, resource: `projects/-/serviceAccounts/${account}` },
      },
    ]);
  }
}
