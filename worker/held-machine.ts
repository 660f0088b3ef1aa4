/**
 * @module
 * The machine an instance holds: its process, the credentials a resume must show, and at most one
 * tunnel at a time. Each tunnel gets its own loopback connection to the machine's attach route, so a
 * dropped tunnel is a dropped link for the machine too, and a resume starts afresh. When the process
 * exits, the open tunnel (if any) hears how, and then the holder reports the end.
 */
import WebSocket from "ws";
import { ATTACH_PATH, errorOf, SECRET_HEADER, toBigmachineError } from "../src/core.ts";
import { WS_MAX_PAYLOAD_BYTES } from "../src/rpc/protocol.ts";
import { ATTACH_STATUS, sameToken } from "../src/systems/cloudrun/attach-protocol.ts";
import type { TunnelSocket } from "../src/systems/cloudrun/tunnel-socket.ts";
import { describeExit, type MachineExit, type MachineProcess } from "./machine-process.ts";
import { startRelay } from "./relay.ts";

/** An attach the worker answers without upgrading: an {@link ATTACH_STATUS} and why. */
export interface Refusal {
  status: number;
  reason: string;
}

/** How long a lost loopback connection waits to hear of the process's exit before the tunnel is closed. */
const EXIT_NEWS_WAIT_MS = 1_000;
/** How long the tunnel's closing handshake may take before the connection is cut. */
const CLOSE_WAIT_MS = 2_000;

/** Options for {@link HeldMachine}. */
export interface HeldMachineOptions {
  id: string;
  resumeToken: string;
  /** The session secret: the machine requires it, and a resume must carry it. */
  secret: string;
  process: MachineProcess;
  /** The machine's loopback address, `127.0.0.1:PORT`. */
  addr: string;
  /** Bounds the loopback dial. */
  dialTimeoutMs: number;
  /** Called once the process has exited and the open tunnel, if any, was told. */
  onEnded(exit: MachineExit, toldDriver: boolean): void;
  /** Where the holder's diagnostics go; default standard error. */
  log?: (line: string) => void;
}

/** A machine held by this instance. */
export class HeldMachine {
  readonly id: string;
  readonly process: MachineProcess;
  readonly #options: HeldMachineOptions;
  readonly #log: (line: string) => void;
  /** The tunnel being served, or reserved for one about to open (`"reserved"`). */
  #tunnel: TunnelSocket | "reserved" | undefined;

  constructor(options: HeldMachineOptions) {
    this.id = options.id;
    this.process = options.process;
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    void this.process.exited.then((exit) => this.#ended(exit));
  }

  /** Whether a tunnel is open to the machine (or reserved for one about to open). */
  get attached(): boolean {
    return this.#tunnel !== undefined;
  }

  /** Whether `token` and `secret` are this machine's, compared in constant time. */
  accepts(token: string | null, secret: string | null): boolean {
    return sameToken(this.#options.resumeToken, token) && sameToken(this.#options.secret, secret);
  }

  /**
   * Reserves the machine for a resume's tunnel; a refusal when it cannot be resumed now. Pair with
   * {@link serve} once the tunnel opens, or {@link release} if it never does.
   */
  reserve(): Refusal | undefined {
    if (this.process.exit !== undefined) return { status: ATTACH_STATUS.ended, reason: `machine ${this.id} ${describeExit(this.process.exit)}` };
    if (this.#tunnel !== undefined) return { status: ATTACH_STATUS.busy, reason: `machine ${this.id} already has an open tunnel` };
    this.#tunnel = "reserved";
    return undefined;
  }

  /** Gives up a reservation whose tunnel never opened. */
  release(): void {
    if (this.#tunnel === "reserved") this.#tunnel = undefined;
  }

  /**
   * Serves a tunnel whose handshake is done (a fresh attach) or that needs none (a resume): dials the
   * machine, says `ready`, and relays until either side closes. A failed dial is reported as `failed`
   * and closes the tunnel; the machine stays held.
   */
  async serve(tunnel: TunnelSocket): Promise<void> {
    this.#tunnel = tunnel;
    void tunnel.closed.then(() => {
      if (this.#tunnel === tunnel) this.#tunnel = undefined;
    });
    let machineSocket: WebSocket;
    try {
      machineSocket = await dialMachine(this.#options.addr, this.#options.secret, this.#options.dialTimeoutMs);
    } catch (err) {
      const failure = toBigmachineError(err);
      tunnel.sendControl({ type: "failed", kind: failure.kind, message: failure.message });
      tunnel.close(1011, "could not reach the machine");
      return;
    }
    if (!tunnel.open || this.process.exit !== undefined) {
      // The driver left, or the machine ended (and the tunnel was told), while the dial was under way.
      machineSocket.terminate();
      return;
    }
    tunnel.sendControl({ type: "ready", machineId: this.id, pid: this.process.pid });
    startRelay(tunnel, machineSocket, {
      onTunnelText: (text) => {
        this.#log(`bigmachine worker: closing the tunnel of machine ${this.id}: the driver sent a control message while frames flow (${text.slice(0, 80)})`);
        tunnel.sendControl({ type: "failed", kind: "invalid", message: "no control message is expected once the machine is ready" });
        tunnel.close(1008, "unexpected control message");
      },
      onMachineClosed: () => {
        // The process usually exits just after its sockets close; let the exit, not a bare close, reach the driver.
        const timer = setTimeout(() => {
          if (this.process.exit === undefined) tunnel.close(1011, "the connection to the machine was lost");
        }, EXIT_NEWS_WAIT_MS);
        void this.process.exited.then(() => clearTimeout(timer));
      },
    });
  }

  /** SIGTERM to the process, then SIGKILL after `graceMs`; the end is reported as for any exit. */
  stop(graceMs: number): Promise<MachineExit> {
    return this.process.stop(graceMs);
  }

  async #ended(exit: MachineExit): Promise<void> {
    const tunnel = this.#tunnel;
    let told = false;
    if (tunnel !== undefined && tunnel !== "reserved" && tunnel.open) {
      tunnel.sendControl({ type: "exit", code: exit.code, signal: exit.signal });
      told = true;
      await tunnel.closeAndWait(1000, "machine exited", CLOSE_WAIT_MS);
    }
    this.#log(`bigmachine worker: machine ${this.id} (pid ${this.process.pid}) ${describeExit(exit)}`);
    this.#options.onEnded(exit, told);
  }
}

/** Opens a WebSocket to the machine's attach route on loopback, carrying the session secret. */
function dialMachine(addr: string, secret: string, timeoutMs: number): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}${ATTACH_PATH}`, {
      headers: { [SECRET_HEADER]: secret },
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD_BYTES,
      handshakeTimeout: timeoutMs,
    });
    const fail = (message: string, cause?: unknown) => {
      ws.removeAllListeners();
      ws.on("error", () => {});
      ws.terminate();
      reject(errorOf("net", `could not connect to the machine at ${addr}: ${message}`, { cause }));
    };
    ws.once("open", () => {
      ws.removeAllListeners();
      // Errors from here on end in a close, which the relay handles.
      ws.on("error", () => {});
      resolve(ws);
    });
    ws.once("error", (err) => fail(err.message, err));
    ws.once("unexpected-response", (_req, res) => fail(`HTTP ${res.statusCode}`));
  });
}
