/**
 * Helpers every test may use: waiting for a condition with a bound, and taking a promise's rejection
 * apart. They throw plain errors rather than calling `expect`, so a test cannot pass by skipping them.
 */
import { BigmachineError } from "../src/errors.ts";

/** Options for {@link waitUntil}. */
export interface WaitUntilOptions {
  /** How long to wait before failing; default 15 s (room for two busy cores). */
  timeoutMs?: number;
  /** How often to check; default 20 ms. */
  intervalMs?: number;
}

/**
 * Polls `condition` until it holds; throws, naming `what`, if it does not within the timeout (a number
 * is the timeout in milliseconds).
 */
export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, options: WaitUntilOptions | number = {}): Promise<void> {
  const { timeoutMs = 15_000, intervalMs = 20 } = typeof options === "number" ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** What `fn` throws, whatever it is; throws if it returns. */
export function thrown<T = unknown>(fn: () => unknown): T {
  try {
    fn();
  } catch (err) {
    return err as T;
  }
  throw new Error("expected a throw");
}

/** What `promise` rejects with, whatever it is; throws if it resolves. */
export async function failure<T = unknown>(promise: Promise<unknown>): Promise<T> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  if (!("err" in outcome)) throw new Error(`expected a rejection, got ${String(outcome.value)}`);
  return outcome.err as T;
}

/** The BigmachineError `promise` rejects with; throws if it resolves, or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<BigmachineError> {
  const err = await failure(promise);
  if (!(err instanceof BigmachineError)) throw new Error(`expected a BigmachineError, got ${String(err)}`, { cause: err });
  return err;
}
