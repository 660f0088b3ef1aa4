/**
 * @module
 * The service a driver serves to its own machines over their tunnels. Machines of some systems cannot
 * reach each other (a Cloud Run instance has no address another instance can dial), but each reaches
 * its driver; so a machine dials another through the driver, which relays the link between their two
 * tunnels.
 */
import { errorOf } from "./errors.ts";
import type { Machine } from "./machine.ts";
import type { ServiceContext } from "./services.ts";
import { SUPERVISOR } from "./supervisor.ts";

/** The name the driver's service is called by, from machines. */
export const DRIVER_SERVICE = "Driver";

/** What a relayed dial names first, before any frame. */
export interface RelayRequest {
  addr: string;
}

/** The driver's service: relays links between its machines. */
export class DriverService {
  readonly #machineAt: (addr: string) => Machine | undefined;

  /** `machineAt` finds a running machine this driver started by its address. */
  constructor(machineAt: (addr: string) => Machine | undefined) {
    this.#machineAt = machineAt;
  }

  /**
   * Relays a link from the calling machine to the machine named by the stream's first item (a
   * {@link RelayRequest}); the rest of the stream is the caller's frames, and the reply streams the
   * other machine's frames back (see `streamLink`). Fails with kind `not-exist` for an address that
   * names no running machine of this driver.
   */
  async relay(items: AsyncIterable<unknown>, ctx: ServiceContext): Promise<AsyncIterable<unknown>> {
    const iterator = items[Symbol.asyncIterator]();
    const first = await iterator.next();
    const addr = (first.value as Partial<RelayRequest> | undefined)?.addr;
    if (first.done || typeof addr !== "string") {
      void iterator.return?.();
      throw errorOf("invalid", "a relay must name the machine's address first", { severity: "fatal" });
    }
    const target = this.#machineAt(addr);
    if (target === undefined) {
      void iterator.return?.();
      throw errorOf("not-exist", `no running machine of this driver has address ${addr}`, { severity: "fatal" });
    }
    const frames: AsyncIterable<unknown> = { [Symbol.asyncIterator]: () => iterator };
    return target.call<AsyncIterable<unknown>>(`${SUPERVISOR}.acceptLink`, frames, { signal: ctx.signal });
  }
}
