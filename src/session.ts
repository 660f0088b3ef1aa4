/**
 * @module
 * The Session (Go bigmachine's `B`): one driver's view of its cluster. It starts machines on its system,
 * dials machines by address, lists them, and shuts everything down.
 */
import { randomUUID } from "node:crypto";
import { DRIVER_SERVICE, DriverService } from "./driver-service.ts";
import { errorOf, type BigmachineError } from "./errors.ts";
import { Machine, type MachineParams } from "./machine.ts";
import type { Dispatcher } from "./rpc/types.ts";
import { serviceSpec, ServiceTable } from "./services.ts";
import { SUPERVISOR } from "./supervisor.ts";
import type { System } from "./system.ts";

/** Options of a driver's session. */
export interface SessionOptions {
  /** Ask machines to send stack traces with their error replies; see `StartOptions.errorStacks`. */
  errorStacks?: boolean;
}

/** What {@link Session.startMachines} installs on each machine, and how its start may be canceled. */
export interface StartMachinesOptions extends MachineParams {
  /**
   * Cancels the start: `startMachines` then rejects with kind `canceled` (at once if the signal has
   * already aborted), and machines the system had launched are stopped. Once `startMachines` has
   * resolved, aborting does nothing; stop a machine with `machine.cancel()`.
   */
  signal?: AbortSignal;
}

/** Options for {@link Session.shutdown}. */
export interface ShutdownOptions {
  /** How long to wait for each machine's output to drain after it was asked to stop; default 5 s. */
  drainMs?: number;
}

/** A bigmachine session, in a driver or (with role `machine`) inside a machine. */
export class Session {
  /** The system machines run on. */
  readonly system: System;
  /** `driver`, or `machine` for the session a machine hands its services' `init` hooks. */
  readonly role: "driver" | "machine";
  readonly #owned: Machine[] = [];
  readonly #dialed = new Map<string, Machine>();
  readonly #dispatcher: Dispatcher | undefined;
  readonly #options: SessionOptions;
  #shutdown: Promise<void> | undefined;

  /**
   * @internal Sessions are made by `start()`. A machine's session serves `dispatcher` (its services)
   * to the machines it dials; a driver's serves the {@link DriverService} to the machines it starts.
   */
  constructor(system: System, role: "driver" | "machine", dispatcher?: Dispatcher, options: SessionOptions = {}) {
    this.system = system;
    this.role = role;
    this.#dispatcher = dispatcher ?? (role === "driver" ? this.#driverServices() : undefined);
    this.#options = options;
  }

  #driverServices(): ServiceTable {
    const table = new ServiceTable();
    table.add(DRIVER_SERVICE, new DriverService((addr) => this.#owned.find((m) => m.addr === addr && m.state === "running")));
    return table;
  }

  /**
   * Starts `n` machines and installs `options` on each: environment, arguments, then services (whose
   * classes must be registered). Resolves with the machines once the system has launched them; they
   * become running on their own (`machine.waitFor("running")`, or just call them: calls wait). A machine
   * that fails to start ends up stopped with its error. `options.signal` cancels the start (see
   * {@link StartMachinesOptions.signal}).
   */
  async startMachines(n: number, options: StartMachinesOptions = {}): Promise<Machine[]> {
    const { signal, ...params } = options;
    if (!Number.isInteger(n) || n < 1) throw errorOf("invalid", `startMachines needs a positive integer count, got ${n}`, { severity: "fatal" });
    if (this.#shutdown) throw errorOf("precondition", "the session is shut down", { severity: "fatal" });
    // Fail before launching anything if a service cannot travel.
    for (const [name, instance] of Object.entries(params.services ?? {})) serviceSpec(name, instance);
    if (signal?.aborted) throw startCanceled(signal);
    const machines = await this.system.start(n, signal ? { signal } : {});
    for (const m of machines) {
      this.#owned.push(m);
      // A system may finish launching as the signal aborts: what it launched is stopped, not started.
      if (signal?.aborted) {
        m._stop(startCanceled(signal));
        continue;
      }
      void m._start({
        system: this.system,
        owned: true,
        params,
        dispatcher: this.#dispatcher,
        shuttingDown: () => this.#shutdown !== undefined,
        errorStacks: this.#options.errorStacks,
      });
    }
    if (signal?.aborted) throw startCanceled(signal);
    return machines;
  }

  /**
   * A machine at `addr` that this session did not start, e.g. one started by another driver. It is not
   * kept alive from here, only pinged; it stops here when it stops answering. Dialing the same address
   * again returns the same machine while it is not stopped.
   */
  dial(addr: string): Machine {
    if (this.#shutdown) throw errorOf("precondition", "the session is shut down", { severity: "fatal" });
    const owned = this.#owned.find((m) => m.addr === addr && m.state !== "stopped");
    if (owned) return owned;
    const existing = this.#dialed.get(addr);
    if (existing && existing.state !== "stopped") return existing;
    const m = new Machine({ addr });
    this.#dialed.set(addr, m);
    void m._start({ system: this.system, owned: false, dispatcher: this.#dispatcher, shuttingDown: () => this.#shutdown !== undefined });
    return m;
  }

  /** The machines this session started, in start order (stopped ones included). */
  machines(): Machine[] {
    return [...this.#owned];
  }

  /**
   * Shuts the session down: asks each running machine to stop (best effort), waits for its output to
   * drain, stops every machine (pending calls reject with kind `canceled`), then shuts the system down.
   * Idempotent; later calls return the same promise.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    return (this.#shutdown ??= this.#doShutdown(options.drainMs ?? 5_000));
  }

  async #doShutdown(drainMs: number): Promise<void> {
    const { rpcTimeoutMs } = this.system.keepaliveConfig();
    await Promise.all(
      this.#owned.filter((m) => m.state === "running").map(async (m) => {
        try {
          const marker = randomUUID();
          await m.call(`${SUPERVISOR}.shutdown`, { marker }, { timeoutMs: rpcTimeoutMs });
          await this.#drain(m, marker, drainMs);
        } catch {
          // Best effort: a machine that cannot be told ends itself when keepalives stop.
        }
      }),
    );
    const err: BigmachineError = errorOf("canceled", "the session was shut down", { severity: "fatal" });
    for (const m of [...this.#owned, ...this.#dialed.values()]) m._stop(err);
    await this.system.shutdown();
  }

  /** Reads the machine's output until its shutdown marker shows up, or `ms` passes. */
  async #drain(m: Machine, marker: string, ms: number): Promise<void> {
    const signal = AbortSignal.timeout(ms);
    try {
      for await (const line of this.system.tail(m, signal)) if (line.text.includes(marker)) return;
    } catch {
      // Timed out, or the system cannot tail: nothing more to wait for.
    }
  }
}

function startCanceled(signal: AbortSignal): BigmachineError {
  return errorOf("canceled", "starting machines was canceled", { severity: "fatal", cause: signal.reason });
}
