/**
 * @module
 * {@link RpcPeer}: one end of a link. Links are symmetric, so a peer both calls (its caller half) and,
 * given a dispatcher, serves (its callee half); the direction bit of each frame says which half it is
 * for. The peer owns the link's lifetime: when the link closes or fails, every call on either side
 * ends with a `net` error.
 */
import { errorOf } from "../errors.ts";
import type { ErrorReplies } from "./error-replies.ts";
import { Callee } from "./callee.ts";
import { Caller } from "./caller.ts";
import type { FaultInjector } from "./faults.ts";
import { frameId } from "./frames.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, FROM_CALLEE, FrameKind, HEADER_BYTES, KIND_MASK } from "./protocol.ts";
import { StatsTable } from "./stats.ts";
import type { CallOptions, Dispatcher, Link, MethodStats } from "./types.ts";
import { Wire } from "./wire.ts";

/** Options for {@link RpcPeer}. */
export interface RpcPeerOptions {
  /** Serves calls from the other side; without one, incoming calls fail with kind `not-supported`. */
  dispatcher?: Dispatcher;
  /** Largest single (non-streamed) argument, reply or stream item, in bytes; default 64 MiB. */
  maxMessageBytes?: number;
  /** Names the far side in error messages, e.g. the machine address. */
  label?: string;
  /** Where served calls are counted; default a table of this peer's own. @internal */
  servedStats?: StatsTable;
  /** How this peer answers with errors (stacks or not, and where they are logged); default without stacks. @internal */
  errorReplies?: ErrorReplies;
}

// Frame kinds each direction may carry, as bit sets; anything else means the ends disagree on the protocol.
const kindBits = (...kinds: number[]) => kinds.reduce((bits, kind) => bits | (1 << kind), 0);
const FROM_CALLER_KINDS = kindBits(FrameKind.CALL, FrameKind.DATA, FrameKind.BYTES, FrameKind.END, FrameKind.CREDIT, FrameKind.CANCEL);
const FROM_CALLEE_KINDS = kindBits(FrameKind.REPLY, FrameKind.ERROR, FrameKind.STREAM, FrameKind.DATA, FrameKind.BYTES, FrameKind.END, FrameKind.CREDIT, FrameKind.CANCEL);

/**
 * One end of an RPC link. Every call settles: with the reply, the far side's error (kind `remote`), or
 * a local error (`net` when the link closes or fails, `canceled`, `timeout`, `invalid`).
 */
export class RpcPeer {
  readonly #wire: Wire;
  readonly #caller: Caller;
  readonly #callee: Callee;
  readonly #servedStats: StatsTable;
  #isClosed = false;
  #resolveClosed!: (err: Error | undefined) => void;
  /** Resolves when the link closes: with the error if it failed, undefined if it was closed. */
  readonly closed: Promise<Error | undefined>;

  constructor(link: Link, options: RpcPeerOptions = {}) {
    this.#wire = new Wire(link, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, options.label, options.errorReplies);
    this.#caller = new Caller(this.#wire);
    this.#servedStats = options.servedStats ?? new StatsTable();
    this.#callee = new Callee(this.#wire, options.dispatcher, this.#servedStats, (message) => this.#protocolError(message));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    link.onFrame((frame) => this.#onFrame(frame));
    link.onClose((err) => this.#shutDown(err ? `link failed: ${err.message}` : "link closed", err));
  }

  /**
   * Calls `method` (`Service.method`) on the far side with `arg`. An `AsyncIterable` argument is
   * streamed; a streamed reply resolves to an `AsyncIterable` once the stream starts (the signal and
   * deadline then also bound reading it). A `timeoutMs` of zero or less fails at once with kind
   * `timeout`; an argument over `maxMessageBytes` fails with kind `invalid` before anything is sent.
   */
  call<T = unknown>(method: string, arg: unknown, options?: CallOptions): Promise<T> {
    return this.#caller.call<T>(method, arg, options);
  }

  /** Outgoing calls by method. */
  stats(): Record<string, MethodStats> {
    return this.#caller.stats.snapshot();
  }

  /** Calls served by this peer, by method (shared with its server, if it has one). */
  servedStats(): Record<string, MethodStats> {
    return this.#servedStats.snapshot();
  }

  /** Makes this peer's outgoing calls fail like a flaky network, for tests. */
  get faults(): FaultInjector {
    return this.#caller.faults;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Calls in flight from this peer and calls it is serving; for tests and diagnostics. */
  get load(): { calling: number; serving: number } {
    return { calling: this.#caller.pending, serving: this.#callee.active };
  }

  /** Closes the link; pending calls fail with kind `net`. Idempotent. */
  close(reason?: string): void {
    if (this.#isClosed) return;
    this.#shutDown(reason ? `link closed: ${reason}` : "link closed", undefined);
    this.#wire.link.close(reason);
  }

  #onFrame(frame: Uint8Array): void {
    if (this.#isClosed) return;
    if (frame.byteLength < HEADER_BYTES) return this.#protocolError(`frame of ${frame.byteLength} bytes is shorter than a header`);
    const kindByte = frame[0];
    const kind = kindByte & KIND_MASK;
    const id = frameId(frame);
    if (kindByte & FROM_CALLEE) {
      if (((FROM_CALLEE_KINDS >>> kind) & 1) === 0) return this.#protocolError(`unknown frame kind ${kindByte} from a callee`);
      this.#caller.onFrame(kind, id, frame);
    } else {
      if (((FROM_CALLER_KINDS >>> kind) & 1) === 0) return this.#protocolError(`unknown frame kind ${kindByte} from a caller`);
      this.#callee.onFrame(kind, id, frame);
    }
  }

  /** The far side sent something this protocol cannot read: the two ends no longer agree, so end the link. */
  #protocolError(message: string): void {
    if (this.#isClosed) return;
    const reason = `protocol error: ${message}`;
    this.#shutDown(`link closed: ${reason}`, errorOf("net", `${this.#wire.prefix}${reason}`));
    this.#wire.link.close(reason);
  }

  #shutDown(reason: string, err: Error | undefined): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#wire.release();
    this.#caller.closeAll(reason);
    this.#callee.closeAll(reason);
    this.#resolveClosed(err);
  }
}
