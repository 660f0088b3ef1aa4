/**
 * @module
 * The core's exported API, as systems see it. Systems import from here (never from `index.ts`, which
 * also holds the composition root that imports the systems, and never from each other).
 */
export * from "./errors.ts";
export type * from "./system.ts";
export { SECRET_HEADER, MACHINE_ENV, KEEPALIVE_ENV, keepaliveEnvOf, keepaliveFromEnv } from "./system.ts";
export { offerSessionSecret, requestSessionSecret, type SecretRecipient, type SecretRequester } from "./session-secret.ts";
export { Machine, MACHINE_STATES, type MachineState, type MachineOptions, type MachineParams, type RetryOptions } from "./machine.ts";
export { Session, type SessionOptions, type ShutdownOptions } from "./session.ts";
export { registerService, ServiceTable, type ServiceClass, type ServiceContext, type ServiceInit, type ServiceSpec } from "./services.ts";
export { serviceClient, type ServiceClient, type RemoteMethod, type Caller } from "./proxy.ts";
export { Supervisor, SUPERVISOR, UNHEALTHY_MEMORY_PERCENT, type MachineInfo, type KeepaliveReply, type SupervisorOptions } from "./supervisor.ts";
export { createMachineEndpoint, secretAuthorizer, type MachineEndpoint, type MachineEndpointOptions } from "./machine-endpoint.ts";
export type { MemInfo, DiskInfo, LoadInfo } from "./host-info.ts";
export { setMetric, addMetric, deleteMetric, metricsSnapshot } from "./metrics.ts";
export { LineLog } from "./util/line-log.ts";
export { sleep } from "./util/sleep.ts";
export { readHostFile } from "./util/host-file.ts";
export { isDebuggerFlag, withoutDebuggerFlags, nodeOptionsWithoutDebugger } from "./util/debugger-flags.ts";
export { PROCESS_GROUPS, signalProcessGroup, endProcessGroup, exitWithProcessGroup, killOwnProcessGroup } from "./util/process-group.ts";
export * from "./rpc/index.ts";
export type * from "./rpc/types.ts";
