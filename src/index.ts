/**
 * bigmachine: ad-hoc clusters of machines running stateful services, called over authenticated RPC.
 *
 * A driver registers service classes, starts a session on a system (child processes on this host by
 * default, or in-process machines for tests), starts machines with services
 * installed, and calls them through typed clients:
 *
 * ```ts
 * import { registerService, start } from "bigmachine";
 *
 * export class CirclePI { async sample(n: number): Promise<number> { ... } }
 * registerService("PI", CirclePI);
 *
 * const session = await start();              // in a machine process, this serves and never returns
 * const machines = await session.startMachines(4, { services: { PI: new CirclePI() } });
 * const counts = await Promise.all(machines.map((m) => m.service<CirclePI>("PI").sample(1e7)));
 * await session.shutdown();
 * ```
 *
 * @packageDocumentation
 */
export * from "./core.ts";
export { start, registerSystem, isMachineProcess, type StartOptions } from "./start.ts";
export { LocalSystem, localSystem, LOCAL_ENV, type BundleMode, type LocalProgram, type LocalSystemOptions } from "./systems/local/index.ts";
