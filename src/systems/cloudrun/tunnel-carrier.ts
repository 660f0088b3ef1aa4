/**
 * @module
 * An attach tunnel, once its handshake is done, as a {@link Link}: binary messages are frames; text
 * messages go to the owner, who decides what they mean (the driver reads the worker's control
 * messages; the machine refuses them). Frames that arrive before `onFrame` is set are held, and a close
 * before `onClose` is set is reported when it is, with the error the owner makes of the close.
 */
import { coalesceWrites, type Link } from "../../core.ts";
import type { TunnelClose, TunnelSocket } from "./tunnel-socket.ts";

/** Close codes by which a side closed on purpose rather than the tunnel failing. */
export const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);

/** Options for {@link tunnelCarrier}. */
export interface TunnelCarrierOptions {
  /** Receives each text message. */
  onText(text: string): void;
  /**
   * The error the link closes with, made once the tunnel has closed. Default: none for a close either
   * side made on purpose, otherwise an error naming the close.
   */
  closeError?(close: TunnelClose): Error | undefined;
}

/** The default of {@link TunnelCarrierOptions.closeError}. */
function droppedError(close: TunnelClose): Error | undefined {
  if (CLEAN_CLOSE_CODES.has(close.code) && close.error === undefined) return undefined;
  return new Error(`tunnel closed with code ${close.code}${close.reason ? `: ${close.reason}` : ""}`, { cause: close.error });
}

/** A {@link Link} over `tunnel`. */
export function tunnelCarrier(tunnel: TunnelSocket, options: TunnelCarrierOptions): Link {
  let frameHandler: ((frame: Uint8Array) => void) | undefined;
  let closeHandler: ((err?: Error) => void) | undefined;
  let early: Uint8Array[] = [];
  let closed: { err?: Error } | undefined;

  const reportClose = () => {
    if (closed === undefined || closeHandler === undefined) return;
    const handler = closeHandler;
    closeHandler = undefined;
    handler(closed.err);
  };

  tunnel.forward({
    binary: (data) => {
      if (frameHandler !== undefined) frameHandler(data);
      else early.push(data);
    },
    text: options.onText,
  });
  void tunnel.closed.then((close) => {
    closed = { err: (options.closeError ?? droppedError)(close) };
    reportClose();
  });

  // As the RPC layer's own WebSocket links do: frames sent in one turn leave in one write.
  const beforeSend = coalesceWrites(tunnel.ws);
  return {
    send(frame) {
      if (!tunnel.open) return;
      beforeSend();
      tunnel.ws.send(frame, { binary: true });
    },
    get bufferedAmount() {
      return tunnel.ws.bufferedAmount;
    },
    onFrame(handler) {
      frameHandler = handler;
      const held = early;
      early = [];
      for (const frame of held) handler(frame);
    },
    onClose(handler) {
      closeHandler = handler;
      if (closed !== undefined) queueMicrotask(reportClose);
    },
    close(reason) {
      tunnel.close(1000, reason ?? "");
    },
  };
}
