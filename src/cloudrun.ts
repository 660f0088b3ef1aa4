// bigmachine: driver-only
/**
 * @module
 * `bigmachine/cloudrun`: the Cloud Run System as a driver configures it, and the same System against
 * local emulators. A driver that only picks the System by name (`start({ system: "cloudrun" })` or
 * `BIGMACHINE_SYSTEM=cloudrun`) needs nothing from here.
 *
 * Driver-only, like the modules it re-exports: a program's machines never run the driver's side of the
 * System, so bundles shipped to them leave it out. Import it with `await import("bigmachine/cloudrun")`
 * in code only the driver runs (after `await start()` returns, or behind `isMachineProcess()`):
 *
 * ```ts
 * const { CloudRunSystem, startEmulatedCloudRun } = await import("bigmachine/cloudrun");
 * const emulated = await startEmulatedCloudRun();
 * const session = await start({ system: new CloudRunSystem(emulated.systemOptions()) });
 * ```
 */
export { CloudRunSystem, CLOUDRUN_SYSTEM_DEFAULTS, type CloudRunSystemOptions } from "./systems/cloudrun/system.ts";
export type { CloudRunClients } from "./systems/cloudrun/clients.ts";
export type { CloudRunServiceSettings } from "./systems/cloudrun/config.ts";
export { startEmulatedCloudRun, type EmulatedCloudRun } from "./systems/cloudrun/emulated.ts";
