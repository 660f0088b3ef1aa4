/**
 * @module
 * A link wrapper that delivers every outgoing frame `ms` later, in order: the test system's way to make a
 * machine slow without making it fail.
 */
import type { Link } from "../../core.ts";

/** Wraps `link` so frames sent through it leave after `ms`. */
export function delayedLink(link: Link, ms: number): Link {
  const queue: { at: number; frame: Uint8Array }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let queuedBytes = 0;

  const pump = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0].at <= now) {
      const { frame } = queue.shift()!;
      queuedBytes -= frame.byteLength;
      if (!closed) link.send(frame);
    }
    if (queue.length > 0) timer = setTimeout(pump, queue[0].at - now);
  };

  return {
    send(frame) {
      if (closed) return;
      queue.push({ at: Date.now() + ms, frame });
      queuedBytes += frame.byteLength;
      timer ??= setTimeout(pump, ms);
    },
    get bufferedAmount() {
      return link.bufferedAmount + queuedBytes;
    },
    onFrame: (handler) => link.onFrame(handler),
    onClose: (handler) => link.onClose(handler),
    close(reason) {
      closed = true;
      clearTimeout(timer);
      queue.length = 0;
      queuedBytes = 0;
      link.close(reason);
    },
  };
}
