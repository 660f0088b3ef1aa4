/**
 * @module
 * What the caller and callee halves of a peer share about their link: sending, the size limit, the
 * label for messages, how errors are answered, and waiting for the link's send buffer to drain.
 */
import { errorOf, type BigmachineError } from "../errors.ts";
import { ErrorReplies } from "./error-replies.ts";
import { LINK_HIGH_WATER_BYTES } from "./protocol.ts";
import type { Link } from "./types.ts";

/** Polling interval while waiting for a link's buffer to drain (links have no drain event). */
const DRAIN_POLL_MS = 1;

/** A peer's view of its link. @internal */
export class Wire {
  readonly link: Link;
  readonly maxMessageBytes: number;
  /** Prefix for error messages, e.g. `127.0.0.1:4000: `, or empty. */
  readonly prefix: string;
  /** Whether this end's error replies carry stacks, and where failures are logged. */
  readonly errors: ErrorReplies;
  #drainWaiters: (() => void)[] = [];
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(link: Link, maxMessageBytes: number, label: string | undefined, errors = new ErrorReplies()) {
    this.link = link;
    this.maxMessageBytes = maxMessageBytes;
    this.prefix = label ? `${label}: ` : "";
    this.errors = errors;
  }

  /** Whether the link holds more unsent bytes than stream producers should add to. */
  get congested(): boolean {
    return this.link.bufferedAmount > LINK_HIGH_WATER_BYTES;
  }

  /** Resolves once the link's buffer falls to half the high-water mark (or {@link release} is called). */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.#drainWaiters.push(resolve);
      this.#drainTimer ??= setTimeout(() => this.#pollDrain(), DRAIN_POLL_MS);
    });
  }

  #pollDrain(): void {
    this.#drainTimer = undefined;
    if (this.link.bufferedAmount > LINK_HIGH_WATER_BYTES / 2) {
      this.#drainTimer = setTimeout(() => this.#pollDrain(), DRAIN_POLL_MS);
      return;
    }
    this.release();
  }

  /** Wakes every drain waiter, e.g. because the link closed. */
  release(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** The `invalid` error for a value of `bytes` over the limit. */
  tooLarge(what: string, bytes: number): BigmachineError {
    return errorOf("invalid", `${this.prefix}${what} is ${bytes} bytes, over the limit of ${this.maxMessageBytes}`, { severity: "fatal" });
  }
}
