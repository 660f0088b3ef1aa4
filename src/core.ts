/**
 * @module
 * What bigmachine's own systems, worker and deploy commands import from the core: the System author's
 * API (`system-api.ts`, published as `bigmachine/system`) less `registerSystem` (which lives with the
 * composition root, `start.ts`, and would make every system import every other), plus the core's
 * internal helpers. Systems import from here, never from `index.ts` or from each other.
 */
export type { System, SessionInfo, HttpClient, Listener, LogLine, KeepaliveConfig, RpcEndpoint } from "./system.ts";
export { SECRET_HEADER, MACHINE_ENV, KEEPALIVE_ENV, keepaliveEnvOf, keepaliveFromEnv } from "./system.ts";
export { Machine, type MachineOptions, type MachineState } from "./machine.ts";
export { createMachineEndpoint, secretAuthorizer, type MachineEndpoint, type MachineEndpointOptions } from "./machine-endpoint.ts";
export { SUPERVISOR, type MachineInfo, type KeepaliveReply } from "./supervisor.ts";
export { offerSessionSecret, requestSessionSecret, type SecretRecipient, type SecretRequester } from "./session-secret.ts";
export { ServiceTable } from "./services.ts";
export * from "./errors.ts";
export * from "./rpc/index.ts";

// Internal helpers: not part of any published entry point.
export { LineLog } from "./util/line-log.ts";
export { sleep } from "./util/sleep.ts";
export { readHostFile } from "./util/host-file.ts";
export { isDebuggerFlag, withoutDebuggerFlags, nodeOptionsWithoutDebugger } from "./util/debugger-flags.ts";
export { PROCESS_GROUPS, signalProcessGroup, endProcessGroup, exitWithProcessGroup, killOwnProcessGroup } from "./util/process-group.ts";
