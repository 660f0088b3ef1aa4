/**
 * @module
 * The contracts of the RPC layer. One layer serves every system; only the {@link Link} that carries the
 * frames differs (a WebSocket to a local process or through a Cloud Run attach tunnel, or an in-memory
 * pair in the test system).
 *
 * A call names a method as `Service.method` and carries one argument; it settles with one reply or one
 * error. An argument or a reply that is an `AsyncIterable` (and not a string, array, Map or typed array)
 * is streamed item by item with backpressure; the receiver sees an `AsyncIterable` that throws if the
 * stream fails midway, never one that silently ends early.
 */

/** A message-oriented duplex between two peers. Frames arrive whole and in order. */
export interface Link {
  /** Queues one frame. Never throws on a closed link: the close is reported through {@link onClose}. */
  send(frame: Uint8Array): void;
  /** Bytes queued but not yet written out, for backpressure. */
  readonly bufferedAmount: number;
  /** Sets the single receiver of incoming frames. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Sets the single receiver of the close; `err` is set when the link failed rather than closed. */
  onClose(handler: (err?: Error) => void): void;
  /** Closes the link; idempotent. */
  close(reason?: string): void;
}

/** What a method (and the dispatcher) gets besides its argument. */
export interface CallContext {
  /** `Service.method`. */
  readonly method: string;
  /** Aborted when the caller cancels, the deadline passes, or the link drops. */
  readonly signal: AbortSignal;
}

/**
 * Serves incoming calls. Throw (or reject with) a BigmachineError, or anything (it is normalized), to
 * fail the call.
 */
export interface Dispatcher {
  /**
   * Runs `method`: returns the reply, or a promise of it. A reply returned as a plain value is sent at
   * once, without waiting for a promise job, which is what most small methods return.
   */
  dispatch(method: string, arg: unknown, ctx: CallContext): unknown;
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call: the far side's `ctx.signal` aborts and the call rejects with kind `canceled`. */
  signal?: AbortSignal;
  /** Fails the call with kind `timeout` after this long. */
  timeoutMs?: number;
}

/** Counters for one method on one side of the wire. */
export interface MethodStats {
  count: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  /** Latency of settled calls in milliseconds. */
  latencyMs: { mean: number; p50: number; p99: number; max: number };
}
