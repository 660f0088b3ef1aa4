/**
 * @module
 * The Cloud Run Admin API v2 emulator: services, long-running operations and IAM policies over
 * Google's REST JSON surface, checked and shaped by the same descriptors the official client uses.
 */
export { RUN_ADMIN_DEFAULTS, RunAdminEmulator } from "./run-admin-emulator.ts";
export type { RunAdminEmulatorOptions } from "./run-admin-emulator.ts";
export { ApiError, CANONICAL_CODES } from "./api-error.ts";
export type { CanonicalCode, ErrorBody, FieldViolation, RpcStatus } from "./api-error.ts";
export { ACT_AS, DeployPermissions } from "./deploy-permissions.ts";
export type { DeployPermissionsOptions } from "./deploy-permissions.ts";
export { IAM_PROPAGATION_DEFAULT_MS } from "./iam-propagation.ts";
