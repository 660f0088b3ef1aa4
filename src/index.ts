/**
 * bigmachine: ad-hoc clusters of machines running stateful services, called over authenticated RPC.
 *
 * A driver registers service classes, starts a session on a system (child processes on this host by
 * default, or in-process machines for tests), starts machines with services installed, and calls them
 * through typed clients:
 *
 * ```ts
 * import { registerService, start } from "bigmachine";
 *
 * export class CirclePI { async sample(n: number): Promise<number> { ... } }
 * const PI = registerService("PI", CirclePI);
 *
 * const session = await start();              // in a machine process, this serves and never returns
 * const machines = await session.startMachines(4, { services: { [PI.name]: new CirclePI() } });
 * const counts = await Promise.all(machines.map((m) => m.service(PI).sample(1e7)));
 * await session.shutdown();
 * ```
 *
 * This entry point is what a driver writes against. Systems for tests are in `bigmachine/testing`,
 * the Cloud Run System in `bigmachine/cloudrun`, the Google API emulators in `bigmachine/emulators`,
 * and what a System author needs in `bigmachine/system`.
 *
 * @packageDocumentation
 */
export { start, isMachineProcess, type StartOptions } from "./start.ts";
export { Session, type StartMachinesOptions, type ShutdownOptions } from "./session.ts";
export { Machine, MACHINE_STATES, type MachineState, type MachineParams, type RetryOptions } from "./machine.ts";
export {
  registerService,
  type RemoteCallable,
  type ServiceClass,
  type ServiceContext,
  type ServiceHandle,
  type ServiceInit,
} from "./services.ts";
export type { NotRemote, RemoteMethod, RemoteReply, ServiceClient } from "./proxy.ts";
export {
  BigmachineError,
  errorOf,
  isKind,
  isTemporary,
  isFatal,
  toBigmachineError,
  type BigmachineErrorOptions,
  type ErrorKind,
  type Severity,
} from "./errors.ts";
export type { CallOptions, MethodStats } from "./rpc/types.ts";
export type { KeepaliveConfig, LogLine, System } from "./system.ts";
export type { MachineInfo } from "./supervisor.ts";
export type { MemInfo, DiskInfo, LoadInfo } from "./host-info.ts";
export { setMetric, addMetric, deleteMetric } from "./metrics.ts";
export { LocalSystem, type BundleMode, type LocalProgram, type LocalSystemOptions } from "./systems/local/index.ts";
