/**
 * @module
 * The Cloud Run serving-plane emulator.
 */
export { ServingPlane, SERVING_DEFAULTS, type ServingPlaneOptions, type InstanceInfo } from "./plane.ts";
export { AFFINITY_COOKIE } from "./front-end.ts";
export { checkInvoker, type AuthVerdict, type IdTokenVerifier } from "./auth.ts";
