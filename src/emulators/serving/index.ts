/**
 * @module
 * The Cloud Run serving-plane emulator: deployed services as local processes behind loopback URLs,
 * with Cloud Run's container contract, scaling, timeouts, affinity and invoker checks.
 */
export { DEFAULT_HOST_ENV, ServingPlane, SERVING_DEFAULTS, type ServingPlaneOptions, type InstanceInfo } from "./plane.ts";
export { COLD_START_WAIT } from "./pool.ts";
export type { ImageMapping } from "./images.ts";
export { AFFINITY_COOKIE } from "./affinity.ts";
export { checkInvoker, type AuthVerdict, type IdTokenVerifier } from "./auth.ts";
export type { InstanceExit, InstanceState } from "./instance.ts";
