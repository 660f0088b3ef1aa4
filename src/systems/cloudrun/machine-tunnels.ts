/**
 * @module
 * The machine's end of its driver's resumable link, inside a Cloud Run worker. The worker accepts
 * each attach (checks its credentials, runs a fresh attach's handshake) and hands the tunnel's
 * connection to the machine process; from there the machine alone reads and writes it, so a frame
 * crosses no process between the front end and the machine. The link lives in the machine process,
 * which outlives its tunnels as the worker does: a call in flight when a tunnel drops keeps running,
 * and its reply reaches the driver over the next tunnel.
 *
 * The worker cannot speak on a tunnel it handed over, so the machine tells the open tunnel how it
 * ends where it can: on `process.exit` (a service's exit, an uncaught exception) and on the SIGTERM
 * by which the worker stops it. A machine killed outright says nothing; its driver finds out from
 * the worker on its next resume (410 with how the process ended).
 */
import type { Socket } from "node:net";
import { ResumableLink, WS_MAX_PAYLOAD_BYTES } from "../../core.ts";
import { adoptWebSocket } from "./adopt-socket.ts";
import type { MachineReport, TunnelHandover } from "./machine-ipc.ts";
import { tunnelCarrier } from "./tunnel-carrier.ts";
import { TunnelSocket } from "./tunnel-socket.ts";

/** How long a machine stopped by SIGTERM waits for its exit message to be written before it dies. */
const EXIT_MESSAGE_WAIT_MS = 500;

/** Options for {@link MachineTunnels}. */
export interface MachineTunnelsOptions {
  /** Sends a report to the worker. */
  report(report: MachineReport): void;
  /** Where diagnostics go; default standard error. */
  log?: (line: string) => void;
}

/** The machine's resumable link and the tunnel carrying it, one at a time. */
export class MachineTunnels {
  /** The machine's end of the link to its driver; serve the driver's peer on it. */
  readonly link = new ResumableLink({ label: "the driver" });
  readonly #options: MachineTunnelsOptions;
  readonly #log: (line: string) => void;
  #tunnel: TunnelSocket | undefined;
  #exitSaid = false;

  constructor(options: MachineTunnelsOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    void this.link.ended.then((err) => options.report(err === undefined ? { type: "bigmachine:link-ended" } : { type: "bigmachine:link-ended", error: err.message }));
  }

  /** Serves a tunnel the worker handed over: says `ready` with the next resume token, and carries the link on it. */
  serve(handover: TunnelHandover, socket: Socket): void {
    const { tunnel: number, machineId } = handover;
    if (this.link.state === "closed" || this.#exitSaid) {
      socket.destroy();
      this.#options.report({ type: "bigmachine:tunnel-closed", tunnel: number });
      return;
    }
    const tunnel = new TunnelSocket(adoptWebSocket(socket, { maxPayload: WS_MAX_PAYLOAD_BYTES }));
    this.#tunnel = tunnel;
    void tunnel.closed.then(() => {
      if (this.#tunnel === tunnel) this.#tunnel = undefined;
      this.#options.report({ type: "bigmachine:tunnel-closed", tunnel: number });
    });
    tunnel.sendControl({ type: "ready", machineId, pid: process.pid, resumeToken: handover.resumeToken });
    const carrier = tunnelCarrier(tunnel, {
      onText: (text) => {
        this.#log(`bigmachine: closing the tunnel of machine ${machineId}: the driver sent a control message while frames flow (${text.slice(0, 80)})`);
        tunnel.sendControl({ type: "failed", kind: "invalid", message: "no control message is expected once the machine is ready" });
        tunnel.close(1008, "unexpected control message");
      },
    });
    this.link.attach(carrier).then(
      // The driver's RESUME on this tunnel shows it read `ready`, and so has the new token.
      () => this.#options.report({ type: "bigmachine:resumed", tunnel: number }),
      () => {
        // The tunnel closed before the driver resumed on it; its close is reported above.
      },
    );
  }

  /**
   * Tells the open tunnel, once, that the machine ends: `code` for an exit, `signal` for a signal.
   * `written` runs once the message is out (or at once, with no tunnel open).
   */
  sayExit(code: number | null, signal: string | null, written?: () => void): void {
    if (this.#exitSaid) return void written?.();
    this.#exitSaid = true;
    const tunnel = this.#tunnel;
    if (tunnel === undefined || !tunnel.open) return void written?.();
    tunnel.sendControl({ type: "exit", code, signal }, () => written?.());
    // The worker may finish at once instead of waiting for a resume that will not come.
    this.#options.report({ type: "bigmachine:exit-told" });
  }

  /**
   * Says the machine's end on the tunnel when the process exits, and when the worker stops it with
   * SIGTERM (unless the program handles SIGTERM itself): then the process dies by the signal, once
   * the message is out.
   */
  sayExitOnEnd(): void {
    process.once("exit", (code) => this.sayExit(code, null));
    const onTerm = () => {
      if (process.listenerCount("SIGTERM") > 1) return;
      let dying = false;
      const die = () => {
        if (dying) return;
        dying = true;
        process.off("SIGTERM", onTerm);
        process.kill(process.pid, "SIGTERM");
      };
      setTimeout(die, EXIT_MESSAGE_WAIT_MS).unref();
      this.sayExit(null, "SIGTERM", die);
    };
    process.on("SIGTERM", onTerm);
  }
}
