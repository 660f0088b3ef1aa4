/**
 * @module
 * A tunnel to a local machine that, when it drops, first waits a moment for news of the machine's
 * process. A killed process closes its sockets and exits at about the same time, and the driver may
 * hear of either first; holding the close briefly lets the exit stop the machine first, so calls that
 * were in flight fail with why the machine died (fatal) instead of as a dropped tunnel (temporary) that
 * a retry would only find dead. A tunnel that drops while the process lives on is passed on as is.
 */
import type { Link } from "../../core.ts";

/** How long a dropped tunnel waits for its process to exit before it is reported as dropped. */
export const EXIT_NEWS_WAIT_MS = 1_000;

/** What the wrapper needs to know about the machine's process. */
export interface ProcessFate {
  readonly alive: boolean;
  /** Settles once the process has exited (and the system has acted on it). */
  readonly exited: Promise<unknown>;
}

/** Wraps `link` so its close is reported only after `fate` exits, or `waitMs` passes with it still alive. */
export function exitAwareLink(link: Link, fate: ProcessFate, waitMs = EXIT_NEWS_WAIT_MS): Link {
  return {
    send: (frame) => link.send(frame),
    get bufferedAmount() {
      return link.bufferedAmount;
    },
    onFrame: (handler) => link.onFrame(handler),
    onClose: (handler) =>
      link.onClose((err) => {
        if (!fate.alive) return handler(err);
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, waitMs);
          timer.unref();
        });
        void Promise.race([fate.exited, waited]).then(() => {
          clearTimeout(timer);
          // After the exit's own handlers: the machine is stopped by the time the close is heard.
          setImmediate(() => handler(err));
        });
      }),
    close: (reason) => link.close(reason),
  };
}
