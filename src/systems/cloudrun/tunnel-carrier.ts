/**
 * @module
 * The machine's end of an attach tunnel, once its handshake is done, as the carrier of the machine's
 * resumable link: binary messages are the link's frames. The driver sends no text once frames flow,
 * so a text message is handed to `onText` (the machine refuses it and closes the tunnel).
 */
import { coalesceWrites, type Link } from "../../core.ts";
import type { TunnelSocket } from "./tunnel-socket.ts";

/** Close codes by which a side closed on purpose rather than the tunnel failing. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);

/** A {@link Link} over `tunnel`; frames queued during the handshake come first. */
export function tunnelCarrier(tunnel: TunnelSocket, onText: (text: string) => void): Link {
  let frameHandler: ((frame: Uint8Array) => void) | undefined;
  let early: Uint8Array[] = [];
  tunnel.forward({
    binary: (data) => {
      if (frameHandler !== undefined) frameHandler(data);
      else early.push(data);
    },
    text: onText,
  });
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
      void tunnel.closed.then((close) => {
        const clean = CLEAN_CLOSE_CODES.has(close.code) && close.error === undefined;
        handler(clean ? undefined : new Error(`tunnel closed with code ${close.code}${close.reason ? `: ${close.reason}` : ""}`, { cause: close.error }));
      });
    },
    close(reason) {
      tunnel.close(1000, reason ?? "");
    },
  };
}
