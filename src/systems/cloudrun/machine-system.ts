/**
 * @module
 * The Cloud Run System as a machine sees it: the program a worker runs for a driver. The worker hands
 * it each tunnel's connection over their IPC channel, and the machine holds its end of the driver's
 * resumable link itself (`machine-tunnels.ts`); it ends itself when that channel closes (the worker
 * is gone).
 *
 * The link is the machine's way to its driver. Machines of a Cloud Run service cannot
 * dial each other (an instance has no address another can reach), so a machine that dials another
 * machine's address asks its driver to relay the link (`Driver.relay`), and the driver calls the other
 * machine's `Supervisor.acceptLink` over its own tunnel.
 *
 * This module loads no Google client: machines never call Google APIs on bigmachine's behalf.
 */
import { Socket } from "node:net";
import os from "node:os";
import {
  errorOf,
  exitWithProcessGroup,
  keepaliveFromEnv,
  killOwnProcessGroup,
  streamLink,
  type HttpClient,
  type KeepaliveConfig,
  type Link,
  type Listener,
  type LogLine,
  type Machine,
  type RpcEndpoint,
  type RpcPeer,
  type SessionInfo,
  type System,
} from "../../core.ts";
import { cloudRunTimings } from "./keepalive.ts";
import { MACHINE_READY, tunnelHandoverOf } from "./machine-ipc.ts";
import { MachineTunnels } from "./machine-tunnels.ts";

/** The exit code of a machine whose worker went away. */
export const WORKER_GONE_EXIT_CODE = 3;

const DRIVER_RELAY = "Driver.relay";

function notSupported(what: string): never {
  throw errorOf("not-supported", `a Cloud Run machine cannot ${what}: only its driver can`, { severity: "fatal" });
}

/** The machine side of the Cloud Run System. */
export class CloudRunMachineSystem implements System {
  readonly name = "cloudrun";
  /** The peer served on the link to the driver: one for the machine's life, over every tunnel. */
  #driver: RpcPeer | undefined;
  #client: HttpClient | undefined;

  /** Only machine processes use this side. */
  async init(session: SessionInfo): Promise<void> {
    if (session.role !== "machine") throw errorOf("precondition", "the Cloud Run machine side serves machines only", { severity: "fatal" });
  }

  /** Serves `endpoint` on the tunnels the worker hands over, tells the worker it can, and never resolves. */
  async main(endpoint: RpcEndpoint): Promise<never> {
    const send = process.send?.bind(process);
    if (!send || !process.connected) {
      throw errorOf("precondition", "a Cloud Run machine must be started by the worker (it has no IPC channel to take tunnels on)", { severity: "fatal" });
    }
    // The worker is gone: end this machine and what it started (the worker made it a group leader).
    process.once("disconnect", () => killOwnProcessGroup(WORKER_GONE_EXIT_CODE));
    const tunnels = new MachineTunnels({ report: (report) => void (process.connected && send(report)) });
    tunnels.sayExitOnEnd();
    this.#driver = endpoint.accept(tunnels.link);
    process.on("message", (message: unknown, handle: unknown) => {
      const handover = tunnelHandoverOf(message);
      if (handover === undefined) return;
      if (handle instanceof Socket) return tunnels.serve(handover, handle);
      // The connection closed on the way: as far as the worker is concerned, that tunnel is over.
      process.stderr.write(`bigmachine: the worker handed over tunnel ${handover.tunnel} without its connection\n`);
      send({ type: "bigmachine:tunnel-closed", tunnel: handover.tunnel });
    });
    await new Promise<void>((resolve, reject) => {
      send(MACHINE_READY, undefined, undefined, (err: Error | null) =>
        err ? reject(errorOf("net", `could not tell the worker the machine is ready: ${err.message}`, { cause: err, severity: "fatal" })) : resolve(),
      );
    });
    return new Promise<never>(() => {});
  }

  /** Dials other machines of the session through the driver; plain requests are not carried. */
  httpClient(): HttpClient {
    return (this.#client ??= {
      fetch: async () => notSupported("send plain HTTP requests to other machines (call them over a link: session.dial(addr))"),
      connect: (addr, options) => this.#relay(addr, options?.signal),
    });
  }

  listenAndServe(): Promise<Listener> {
    return Promise.reject(errorOf("not-supported", "a Cloud Run machine has no address others can reach; it serves through its worker", { severity: "fatal" }));
  }

  start(): Promise<Machine[]> {
    return Promise.reject(errorOf("not-supported", "machines cannot start machines on Cloud Run; the driver starts them", { severity: "fatal" }));
  }

  /** Ends the machine, and what its services started, with `code`. */
  exit(code: number): never {
    exitWithProcessGroup(code);
  }

  async shutdown(): Promise<void> {}

  maxprocs(): number {
    return os.availableParallelism();
  }

  /** The driver's timings, passed in the environment; the rule for Cloud Run's default timeout without them. */
  keepaliveConfig(): KeepaliveConfig {
    return keepaliveFromEnv(process.env, cloudRunTimings().keepalive);
  }

  tail(): AsyncIterable<LogLine> {
    notSupported("tail machines");
  }

  read(): AsyncIterable<Uint8Array> {
    notSupported("read files of other machines");
  }

  event(): void {}

  keepaliveFailed(machine: Machine, err: Error): void {
    process.stderr.write(`bigmachine: keepalives to ${machine.addr} failed: ${err.message}\n`);
  }

  /** A link to the machine at `addr`, relayed by the driver. */
  async #relay(addr: string, signal?: AbortSignal): Promise<Link> {
    if (signal?.aborted) throw errorOf("canceled", `dial ${addr}: canceled`, { cause: signal.reason });
    const driver = this.#driver;
    if (driver === undefined) throw errorOf("precondition", `dial ${addr}: the machine does not serve yet`, { severity: "fatal" });
    const carried = streamLink({ addr });
    try {
      const reply = await driver.call<AsyncIterable<unknown>>(DRIVER_RELAY, carried.outgoing, { signal });
      carried.connect(reply);
    } catch (err) {
      carried.link.close();
      throw err;
    }
    return carried.link;
  }
}
