/**
 * @module
 * {@link streamLink}: a {@link Link} carried by a call's two streams, so one RPC link can run inside
 * another. The frames this end sends are the items of an outgoing stream (the call's streamed argument
 * on the calling side, its streamed reply on the serving side), and the items of the other stream are
 * the frames it receives. The streams' credit gives the inner link backpressure, and cancelling the
 * call closes it.
 *
 * This is how a machine reaches another machine it cannot dial, through their driver: the machine
 * calls its driver with one stream, the driver calls the other machine with another, and each end runs
 * an ordinary RPC peer over its `streamLink`.
 */
import { errorOf } from "../errors.ts";
import type { Link } from "./types.ts";

/** One end of a link carried by streams. */
export interface StreamLink {
  /** The link, for an `RpcPeer` (or a server's `accept`). */
  readonly link: Link;
  /** The frames this end sends, to be passed as a streamed argument or returned as a streamed reply. */
  readonly outgoing: AsyncIterable<unknown>;
  /** Starts reading the frames the other end sends; call once. */
  connect(incoming: AsyncIterable<unknown>): void;
}

/**
 * Makes one end of a link over streams. `head`, when given, is yielded before any frame (e.g. the
 * address a relay should connect to). The link closes cleanly when the incoming stream ends, fails
 * when it fails or yields something that is not a frame, and ends the outgoing stream when closed.
 */
export function streamLink(head?: unknown): StreamLink {
  const queue: Uint8Array[] = head === undefined ? [] : [head as Uint8Array];
  let queuedBytes = 0;
  let wakeReader: (() => void) | undefined;
  let frameHandler: ((frame: Uint8Array) => void) | undefined;
  let early: Uint8Array[] = [];
  let closeHandler: ((err?: Error) => void) | undefined;
  let closed: { err?: Error } | undefined;
  let incomingIterator: AsyncIterator<unknown> | undefined;

  const finish = (err?: Error) => {
    if (closed) return;
    closed = { err };
    wakeReader?.();
    void incomingIterator?.return?.().catch(() => {});
    queueMicrotask(reportClose);
  };
  const reportClose = () => {
    if (!closed || !closeHandler) return;
    const handler = closeHandler;
    closeHandler = undefined;
    handler(closed.err);
  };

  const outgoing: AsyncIterable<unknown> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) {
          const frame = queue.shift()!;
          if (frame instanceof Uint8Array) queuedBytes -= frame.byteLength;
          yield frame;
        }
        if (closed) return;
        await new Promise<void>((resolve) => (wakeReader = resolve));
        wakeReader = undefined;
      }
    },
  };

  const link: Link = {
    send(frame) {
      if (closed) return;
      queue.push(frame);
      queuedBytes += frame.byteLength;
      wakeReader?.();
    },
    get bufferedAmount() {
      return queuedBytes;
    },
    onFrame(handler) {
      frameHandler = handler;
      const held = early;
      early = [];
      for (const frame of held) handler(frame);
    },
    onClose(handler) {
      closeHandler = handler;
      if (closed) queueMicrotask(reportClose);
    },
    close() {
      finish(undefined);
    },
  };

  return {
    link,
    outgoing,
    connect(incoming) {
      if (incomingIterator !== undefined) throw errorOf("precondition", "a stream link is connected once", { severity: "fatal" });
      incomingIterator = incoming[Symbol.asyncIterator]();
      const iterator = incomingIterator;
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await iterator.next();
            if (done || closed) break;
            if (!(value instanceof Uint8Array)) throw errorOf("invalid", "a stream link received something that is not a frame", { severity: "fatal" });
            if (frameHandler !== undefined) frameHandler(value);
            else early.push(value);
          }
          finish(undefined);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    },
  };
}
