/**
 * @module
 * The worker's pipe between the machine's resumable link (the driver's end of it is across the
 * tunnels) and the machine's own attach route on loopback, which stays connected across tunnels. Every
 * frame passes through whole and undecoded. While more than a high-water mark waits for the driver's
 * acknowledgement (the driver is slow, or between tunnels), the worker stops reading from the machine,
 * whose own stream producers then pause, so a machine cannot grow the worker's memory without bound.
 */
import WebSocket from "ws";
import { coalesceWrites, LINK_HIGH_WATER_BYTES, type ResumableLink } from "../src/core.ts";

/** Options for {@link pipeSession}. */
export interface SessionPipeOptions {
  /** Reading from the machine pauses while more than this is unacknowledged; default the RPC layer's mark. */
  highWaterBytes?: number;
}

/**
 * Pipes `session` and the open loopback socket `machine` both ways. Resolves once the machine's socket
 * has closed (the process is ending).
 */
export function pipeSession(session: ResumableLink, machine: WebSocket, options: SessionPipeOptions = {}): Promise<void> {
  const highWater = options.highWaterBytes ?? LINK_HIGH_WATER_BYTES;
  machine.binaryType = "nodebuffer";
  const beforeSend = coalesceWrites(machine);
  session.onFrame((frame) => {
    if (machine.readyState !== WebSocket.OPEN) return;
    beforeSend();
    machine.send(frame, { binary: true });
  });
  let paused = false;
  machine.on("message", (data: Buffer, binary: boolean) => {
    // The machine's RPC layer sends only binary frames.
    if (!binary) return;
    session.send(data);
    if (!paused && session.bufferedAmount > highWater) {
      paused = true;
      machine.pause();
      void session.whenBelow(highWater / 2).then(() => {
        paused = false;
        if (machine.readyState === WebSocket.OPEN) machine.resume();
      });
    }
  });
  machine.on("error", () => {
    // Reported through the close that follows.
  });
  return new Promise<void>((resolve) => {
    if (machine.readyState === WebSocket.CLOSED) resolve();
    else machine.once("close", () => resolve());
  });
}
