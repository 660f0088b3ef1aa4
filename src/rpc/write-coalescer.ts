/**
 * @module
 * Coalescing a WebSocket's writes by turn of the event loop: from the second frame sent in one turn
 * the socket is corked, and it is uncorked once the turn's callbacks and promise jobs have run. A
 * stream producer's burst (or many calls' replies) then costs one system call instead of one per
 * frame, while a lone frame is written at once. Every link over a `ws` socket uses it.
 */
import type WebSocket from "ws";

/** Call before each send; the returned function does the bookkeeping of the turn. */
export type BeforeSend = () => void;

/**
 * Coalesces the writes of `ws`. `onTurnEnd` runs at the end of every turn in which something was sent
 * (after the uncork), e.g. to release buffers that are no longer queued.
 */
export function coalesceWrites(ws: WebSocket, onTurnEnd?: () => void): BeforeSend {
  // `ws` keeps its socket private; corking it is the only way to join frames into one write.
  const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  let inTurn = false;
  let corked = false;
  const endTurn = () => {
    inTurn = false;
    if (corked) {
      corked = false;
      socket!.uncork();
    }
    onTurnEnd?.();
  };
  return () => {
    if (!inTurn) {
      inTurn = true;
      process.nextTick(endTurn);
    } else if (!corked && socket !== undefined) {
      corked = true;
      socket.cork();
    }
  };
}
