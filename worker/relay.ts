/**
 * @module
 * The relay between an attach tunnel and the machine's own attach route on loopback: every binary
 * message passes through whole, in order and undecoded, both ways. Each side is paused while the
 * other has more than a high-water mark queued, so a fast sender cannot grow the worker's memory.
 */
import WebSocket from "ws";
import { LINK_HIGH_WATER_BYTES } from "../src/rpc/protocol.ts";
import type { TunnelSocket } from "../src/systems/cloudrun/tunnel-socket.ts";

/** Options for {@link startRelay}. */
export interface RelayOptions {
  /** Reading from one side pauses while the other has more than this queued; default the RPC layer's mark. */
  highWaterBytes?: number;
  /** A text message from the driver once frames flow (the protocol has none then). */
  onTunnelText(text: string): void;
  /** The loopback connection to the machine closed while the tunnel was still open. */
  onMachineClosed(): void;
}

/** A running relay; it ends when either side closes. */
export interface Relay {
  /** Resolves once the relay has ended, naming the side that closed first. */
  readonly ended: Promise<"tunnel" | "machine">;
}

/**
 * Sends `data` to `target`, pausing `source` while `target` has too much queued and resuming it once
 * the queue has drained below half the mark.
 */
function pass(data: Buffer, source: WebSocket, target: WebSocket, highWaterBytes: number): void {
  if (target.readyState !== WebSocket.OPEN) return;
  target.send(data, { binary: true }, () => {
    if (source.isPaused && target.bufferedAmount <= highWaterBytes / 2) source.resume();
  });
  if (target.bufferedAmount > highWaterBytes && !source.isPaused) source.pause();
}

/**
 * Relays frames between `tunnel` (after its handshake) and `machine` (open). When the tunnel closes,
 * the machine's connection is closed too, so the machine sees its link drop (its calls' signals
 * abort); when the machine's connection closes first, `onMachineClosed` decides what the tunnel hears.
 */
export function startRelay(tunnel: TunnelSocket, machine: WebSocket, options: RelayOptions): Relay {
  const highWater = options.highWaterBytes ?? LINK_HIGH_WATER_BYTES;
  machine.binaryType = "nodebuffer";
  tunnel.forward({
    binary: (data) => pass(data, tunnel.ws, machine, highWater),
    text: (text) => options.onTunnelText(text),
  });
  machine.on("message", (data: Buffer, binary: boolean) => {
    // The machine's RPC layer sends only binary frames; anything else is not the driver's business.
    if (binary) pass(data, machine, tunnel.ws, highWater);
  });
  machine.on("error", () => {
    // Reported through the close that follows.
  });
  const machineClosed = new Promise<void>((resolve) => {
    if (machine.readyState === WebSocket.CLOSED) resolve();
    else machine.once("close", () => resolve());
  });
  const ended = Promise.race([tunnel.closed.then(() => "tunnel" as const), machineClosed.then(() => "machine" as const)]);
  void ended.then((side) => {
    if (side === "tunnel") {
      if (machine.readyState === WebSocket.OPEN) machine.close(1000, "tunnel closed");
      else machine.terminate();
    } else if (tunnel.open) {
      options.onMachineClosed();
    }
  });
  return { ended };
}
