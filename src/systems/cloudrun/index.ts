/**
 * @module
 * Exports of the Cloud Run System's parts: the keepalive rule, the attach protocol, and the log tail,
 * which follows the output of every machine of a service through Cloud Logging, with one query per
 * driver and service.
 */
export { ServiceLogTail, SERVICE_LOG_TAIL_DEFAULTS } from "./log-tail.ts";
export type { ServiceLogTailOptions, ServiceLogTailStats } from "./log-tail.ts";
export { listEntriesWith } from "./list-entries.ts";
export type { EntryLister, ListEntries, ListEntriesPage, ListEntriesRequest } from "./list-entries.ts";
export type { TailEntry } from "./log-query.ts";
export { cloudRunTimings, DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_TIMEOUT_MS, MIN_REQUEST_TIMEOUT_MS } from "./keepalive.ts";
export type { CloudRunTimings } from "./keepalive.ts";
export * from "./attach-protocol.ts";
export { attach, resume, attachUrl, refusalError, DEFAULT_ATTACH_TIMEOUT_MS, DEFAULT_RESUME_TIMEOUT_MS } from "./attach-client.ts";
export type { Attached, AttachCommonOptions, AttachOptions, ProgramToShip, Resumed, ResumeOptions } from "./attach-client.ts";
export { describeMachineExit, tunnelLink } from "./control-link.ts";
export type { TunnelLink, TunnelLinkOptions } from "./control-link.ts";
export { ensureService, grantInvoker, INVOKER_ROLE } from "./service-deployer.ts";
export type { DeployedService, ReadinessOptions, ServicesClient } from "./service-deployer.ts";
export { workerServiceSpec, resolveServiceOptions, serviceDifferences, deploymentKeyOf, DEFAULT_CPU, DEFAULT_MEMORY } from "./service-spec.ts";
export type { ResolvedServiceOptions, RunService, WorkerServiceOptions } from "./service-spec.ts";
export { adminApiError, failedConditionReason } from "./service-errors.ts";
