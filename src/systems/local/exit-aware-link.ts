/**
 * @module
 * A tunnel to a local machine that, when it drops, first waits a moment for news of the machine's
 * process. A killed process closes its sockets and exits at about the same time, and the driver may
 * hear of either first; holding the close briefly lets the exit stop the machine first, so calls that
 * were in flight fail with why the machine died (fatal) instead of as a dropped tunnel (temporary) that
 * a retry would only find dead. A tunnel that drops while the process lives on is passed on as is.
 */
import type { Link } from "../../core.ts";

/**
 * How long a dropped tunnel waits to hear of its process's exit before it is reported as dropped. The
 * exit of a killed process is seen within milliseconds of its sockets closing; this is also the delay a
 * genuine drop (the process lives on) adds before the machine reconnects.
 */
export const EXIT_NEWS_WAIT_MS = 300;

/** What the wrapper needs to know about the machine's process. */
export interface ProcessFate {
  /** Resolves as soon as the process's exit is seen. */
  readonly exitSeen: Promise<unknown>;
  /** Settles once the exit has been fully reported (and the machine stopped with it). */
  readonly exited: Promise<unknown>;
}

/**
 * Wraps `link` so its close is reported after `fate` has exited, or after `waitMs` with no exit seen
 * (then the process lives on, and the close is an ordinary dropped tunnel).
 */
export function exitAwareLink(link: Link, fate: ProcessFate, waitMs = EXIT_NEWS_WAIT_MS): Link {
  return {
    send: (frame) => link.send(frame),
    get bufferedAmount() {
      return link.bufferedAmount;
    },
    onFrame: (handler) => link.onFrame(handler),
    onClose: (handler) =>
      link.onClose((err) => {
        let timer: NodeJS.Timeout | undefined;
        const noExit = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), waitMs);
          timer.unref();
        });
        void Promise.race([fate.exitSeen.then(() => true as const), noExit]).then(async (exited) => {
          clearTimeout(timer);
          if (exited) await fate.exited;
          // After the exit's own handlers: the machine is stopped by the time the close is heard.
          setImmediate(() => handler(err));
        });
      }),
    close: (reason) => link.close(reason),
  };
}
