/**
 * @module
 * How a machine process gets its session secret: over the IPC channel of the process that started it,
 * never through its environment. A process's environment stays readable in `/proc/<pid>/environ` for
 * its whole life (deleting a variable inside the process does not change that copy), and every
 * subprocess a service starts inherits it. So the machine asks, once it runs, and its parent answers the
 * first request only. Both the local system's driver and the Cloud Run worker start machines this way.
 */
import { errorOf } from "./errors.ts";

/** The machine's request for its secret. */
export const SECRET_REQUEST_TYPE = "bigmachine:secret-request";
/** The parent's answer, carrying the secret. */
export const SECRET_ANSWER_TYPE = "bigmachine:secret";

/** How long a machine waits for its secret when not told otherwise. */
export const DEFAULT_SECRET_WAIT_MS = 30_000;

/** The parent's view of a machine process it forked with an IPC channel (a `ChildProcess`). */
export interface SecretRecipient {
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
  send?(message: unknown, callback?: (err: Error | null) => void): boolean;
}

/**
 * Answers the first secret request `child` sends with `secret`; later requests go unanswered, so code
 * that runs in the machine later cannot ask again. Returns a function that stops waiting for the
 * request (e.g. when the child exits first).
 */
export function offerSessionSecret(child: SecretRecipient, secret: string): () => void {
  const onMessage = (message: unknown) => {
    if (!isMessage(message, SECRET_REQUEST_TYPE)) return;
    child.off("message", onMessage);
    // A failed send means the child is gone; its exit is reported through the usual channels.
    child.send?.({ type: SECRET_ANSWER_TYPE, secret }, () => {});
  };
  child.on("message", onMessage);
  return () => child.off("message", onMessage);
}

/** What {@link requestSessionSecret} needs of its process; `process` in a machine. */
export type SecretRequester = Pick<NodeJS.Process, "send" | "connected" | "on" | "off">;

/**
 * Asks the parent for the session secret over the IPC channel. Rejects with kind `precondition` when
 * the process has no IPC channel (it was not started by a bigmachine system), `unavailable` when the
 * channel closes first, and `timeout` after `timeoutMs` without an answer.
 */
export function requestSessionSecret(timeoutMs = DEFAULT_SECRET_WAIT_MS, proc: SecretRequester = process): Promise<string> {
  const send = proc.send?.bind(proc);
  if (!send || proc.connected === false) {
    return Promise.reject(errorOf("precondition", "a machine process gets its session secret over an IPC channel from the system that starts it, and this process has none", { severity: "fatal" }));
  }
  return new Promise<string>((resolve, reject) => {
    const settle = (done: () => void) => {
      clearTimeout(timer);
      proc.off("message", onMessage);
      proc.off("disconnect", onDisconnect);
      done();
    };
    const onMessage = (message: unknown) => {
      if (!isMessage(message, SECRET_ANSWER_TYPE)) return;
      const secret = (message as { secret?: unknown }).secret;
      if (typeof secret !== "string" || secret === "") return settle(() => reject(errorOf("invalid", "the session secret the parent sent is empty or not a string", { severity: "fatal" })));
      settle(() => resolve(secret));
    };
    const onDisconnect = () => settle(() => reject(errorOf("unavailable", "the IPC channel closed before the session secret arrived", { severity: "fatal" })));
    const timer = setTimeout(() => settle(() => reject(errorOf("timeout", `the session secret did not arrive over the IPC channel within ${timeoutMs} ms`, { severity: "fatal" }))), timeoutMs);
    proc.on("message", onMessage);
    proc.on("disconnect", onDisconnect);
    send({ type: SECRET_REQUEST_TYPE }, undefined, undefined, (err: Error | null) => {
      if (err) settle(() => reject(errorOf("unavailable", `could not ask for the session secret: ${err.message}`, { severity: "fatal", cause: err })));
    });
  });
}

function isMessage(message: unknown, type: string): boolean {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === type;
}
