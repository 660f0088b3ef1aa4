/**
 * @module
 * The local system: machines are child processes of the driver's own program on this host.
 */
export { LocalSystem } from "./local-system.ts";
export { LOCAL_ENV, resolveKeepalive, type BundleMode, type LocalProgram, type LocalSystemOptions } from "./config.ts";
export type { RunnableProgram } from "./machine-program.ts";
