/**
 * @module
 * How one end of the RPC layer answers with errors: whether its error replies (ERROR frames, failed
 * stream ENDs, error bodies of plain requests) carry stack traces, and where a failure's full detail is
 * logged instead. Stacks stay home by default: they show the serving side's code and paths to whoever
 * reads the error, and a driver may pass its errors on to its own users. A server's peers share one
 * policy, so a session that asks for stacks gets them on every tunnel.
 */
import { errorToWire, type WireError } from "../errors.ts";

/** Options for {@link ErrorReplies}. */
export interface ErrorRepliesOptions {
  /** Whether error replies carry stacks; default false. */
  stacks?: boolean;
  /** Called with each failure about to be answered as an error, e.g. to log its stack. */
  log?: (method: string, err: unknown) => void;
}

/** The error-reply policy of a server (shared by its peers) or of a single peer. */
export class ErrorReplies {
  /** Whether error replies carry stacks. */
  stacks: boolean;
  readonly #log: ((method: string, err: unknown) => void) | undefined;

  constructor(options: ErrorRepliesOptions = {}) {
    this.stacks = options.stacks ?? false;
    this.#log = options.log;
  }

  /** Records a failure of `method` about to be sent as an error reply; returns its wire form. */
  answer(method: string, err: unknown): WireError {
    if (this.#log !== undefined) {
      try {
        this.#log(method, err);
      } catch {
        // A failing log must not keep the caller from its answer.
      }
    }
    return errorToWire(err, { stacks: this.stacks });
  }
}
