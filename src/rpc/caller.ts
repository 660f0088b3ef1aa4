/**
 * @module
 * The calling half of a peer: sends CALL frames, matches replies to calls by id, and makes sure every
 * call settles, by reply, error, cancellation, deadline or the link going away.
 */
import { BigmachineError, errorOf, remoteError } from "../errors.ts";
import { deadlines, type Expiring } from "./deadlines.ts";
import { CallFaults } from "./faults.ts";
import { bareFrame, callFrame, encodedFlag, encodeFrameValue, frameValue, methodBytes, readU32 } from "./frames.ts";
import { CALL_FLAG_STREAM_ARG, FrameKind, HEADER_BYTES } from "./protocol.ts";
import { StatsTable } from "./stats.ts";
import { isStreamable, RemoteStream, StreamProducer } from "./stream.ts";
import type { CallOptions } from "./types.ts";
import type { Wire } from "./wire.ts";

const NO_BYTES = new Uint8Array(0);
const noop = () => {};

// One executor for every call's promise, handing its resolvers over in module variables: no closure
// is made per call.
let newResolve: (value: any) => void = noop;
let newReject: (err: unknown) => void = noop;
const captureResolvers = (resolve: (value: any) => void, reject: (err: unknown) => void): void => {
  newResolve = resolve;
  newReject = reject;
};

/** One call in flight, from CALL until its reply (and any streams) are done. */
class OutgoingCall implements Expiring {
  readonly caller: Caller;
  readonly id: number;
  readonly method: string;
  readonly startedAt: number;
  bytesOut: number;
  resolve: (value: any) => void = noop;
  reject: (err: unknown) => void = noop;
  settled = false;
  deadlineAt = Infinity;
  deadlineSlot = -1;
  signal: AbortSignal | undefined;
  argProducer: StreamProducer | undefined;
  replyStream: RemoteStream | undefined;

  constructor(caller: Caller, id: number, method: string, bytesOut: number) {
    this.caller = caller;
    this.id = id;
    this.method = method;
    this.bytesOut = bytesOut;
    this.startedAt = performance.now();
  }

  /** The deadline passed. */
  expire(): void {
    this.caller.fail(this, errorOf("timeout", `${this.caller.wire.prefix}${this.method}: timed out`), true);
  }

  /** The caller's signal aborted (this object is the abort listener, saving a closure per call). */
  handleEvent(): void {
    this.caller.fail(this, errorOf("canceled", `${this.caller.wire.prefix}${this.method}: canceled`, { cause: this.signal?.reason }), true);
  }
}

/** The outgoing calls of one peer. @internal */
export class Caller {
  readonly wire: Wire;
  readonly stats = new StatsTable();
  readonly faults = new CallFaults();
  readonly #calls = new Map<number, OutgoingCall>();
  #lastId = 0;
  /** Set once the link is gone: why new calls fail. */
  #closed: string | undefined;

  constructor(wire: Wire) {
    this.wire = wire;
  }

  call<T>(method: string, arg: unknown, options: CallOptions | undefined): Promise<T> {
    const prefix = this.wire.prefix;
    if (this.#closed !== undefined) return this.#refuse(method, errorOf("net", `${prefix}${method}: ${this.#closed}`));
    const fault = this.faults.check(method);
    if (fault !== undefined) return this.#refuse(method, fault);
    const signal = options?.signal;
    if (signal?.aborted) return this.#refuse(method, errorOf("canceled", `${prefix}${method}: canceled`, { cause: signal.reason }));
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) return this.#refuse(method, errorOf("timeout", `${prefix}${method}: timed out (timeout ${timeoutMs} ms)`));

    const id = this.#nextId();
    const streamed = isStreamable(arg);
    let frame: Uint8Array;
    try {
      const payload = streamed ? NO_BYTES : encodeFrameValue(arg);
      if (payload.byteLength > this.wire.maxMessageBytes) throw this.wire.tooLarge(`argument of ${method}`, payload.byteLength);
      frame = callFrame(id, streamed ? CALL_FLAG_STREAM_ARG : 0, methodBytes(method), payload, streamed ? 0 : encodedFlag);
    } catch (err) {
      return this.#refuse(method, err);
    }

    const call = new OutgoingCall(this, id, method, frame.byteLength);
    const promise = new Promise<T>(captureResolvers);
    call.resolve = newResolve;
    call.reject = newReject;
    this.#calls.set(id, call);
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      call.deadlineAt = performance.now() + timeoutMs;
      deadlines.add(call);
    }
    if (signal !== undefined) {
      call.signal = signal;
      signal.addEventListener("abort", call, { once: true });
    }
    this.wire.link.send(frame);
    if (streamed) {
      call.argProducer = new StreamProducer(this.wire, id, 0, method, arg, (bytes) => this.stats.bytes(method, 0, bytes));
      void call.argProducer.run();
    }
    return promise;
  }

  /** Handles a frame the callee sent (`kind` without the direction bit). */
  onFrame(kind: number, id: number, frame: Uint8Array): void {
    const call = this.#calls.get(id);
    if (call === undefined) return; // the tail of a call that was canceled or timed out
    switch (kind) {
      case FrameKind.REPLY: {
        if (call.settled) return;
        let value: unknown;
        try {
          const size = frame.byteLength - HEADER_BYTES;
          if (size > this.wire.maxMessageBytes) throw this.wire.tooLarge(`reply of ${call.method}`, size);
          value = frameValue(frame, HEADER_BYTES);
        } catch (err) {
          this.fail(call, err as BigmachineError, false, frame.byteLength);
          return;
        }
        this.#settle(call, value, frame.byteLength);
        this.#finish(call);
        return;
      }
      case FrameKind.ERROR: {
        let wire: unknown;
        try {
          wire = frameValue(frame, HEADER_BYTES);
        } catch (err) {
          wire = { kind: "invalid", severity: "unknown", message: `undecodable error reply: ${(err as Error).message}` };
        }
        this.fail(call, remoteError(wire, call.method), false, frame.byteLength);
        return;
      }
      case FrameKind.STREAM: {
        if (call.settled) return;
        const stream = new RemoteStream(this.wire, id, {
          direction: 0,
          onCancel: () => this.#cancelReply(call),
          traffic: (bytes) => this.stats.bytes(call.method, bytes, 0),
        });
        call.replyStream = stream;
        this.#settle(call, stream, frame.byteLength);
        return;
      }
      case FrameKind.DATA:
      case FrameKind.BYTES:
        call.replyStream?.push(frame);
        return;
      case FrameKind.END:
        if (call.replyStream === undefined) return;
        if (frame.byteLength > HEADER_BYTES) call.replyStream.fail(this.#streamError(frame, call.method));
        else call.replyStream.end();
        this.#finish(call);
        return;
      case FrameKind.CREDIT:
        if (frame.byteLength >= HEADER_BYTES + 8) call.argProducer?.credit(readU32(frame, HEADER_BYTES), readU32(frame, HEADER_BYTES + 4));
        return;
      case FrameKind.CANCEL:
        call.argProducer?.stop();
        return;
    }
  }

  /**
   * Fails `call` with `err`: rejects it if unsettled, fails its reply stream if one is being read, and
   * with `cancel` tells the callee to stop. @internal
   */
  fail(call: OutgoingCall, err: BigmachineError, cancel: boolean, bytesIn = 0): void {
    if (this.#calls.get(call.id) !== call) return;
    if (!call.settled) {
      call.settled = true;
      this.stats.settled(call.method, false, performance.now() - call.startedAt, bytesIn, call.bytesOut);
      call.reject(err);
    }
    call.replyStream?.fail(err);
    if (cancel) this.wire.link.send(bareFrame(FrameKind.CANCEL, call.id));
    this.#finish(call);
  }

  /** Fails every call: the link is gone. */
  closeAll(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    for (const call of [...this.#calls.values()]) {
      this.fail(call, errorOf("net", `${this.wire.prefix}${call.method}: ${reason}`), false);
    }
  }

  /** Calls in flight; for tests and diagnostics. */
  get pending(): number {
    return this.#calls.size;
  }

  #refuse<T>(method: string, err: unknown): Promise<T> {
    this.stats.settled(method, false, 0, 0, 0);
    return Promise.reject(err);
  }

  #settle(call: OutgoingCall, value: unknown, bytesIn: number): void {
    call.settled = true;
    this.stats.settled(call.method, true, performance.now() - call.startedAt, bytesIn, call.bytesOut);
    call.resolve(value);
  }

  /** The reader of a streamed reply stopped early: cancel the call on the far side. */
  #cancelReply(call: OutgoingCall): void {
    if (this.#calls.get(call.id) !== call) return;
    this.wire.link.send(bareFrame(FrameKind.CANCEL, call.id));
    this.#finish(call);
  }

  #streamError(frame: Uint8Array, method: string): BigmachineError {
    try {
      return remoteError(frameValue(frame, HEADER_BYTES), method);
    } catch (err) {
      return errorOf("invalid", `${this.wire.prefix}${method}: stream failed with an undecodable error: ${(err as Error).message}`);
    }
  }

  /** Forgets a call that is completely done and releases what it holds. */
  #finish(call: OutgoingCall): void {
    if (this.#calls.get(call.id) !== call) return;
    this.#calls.delete(call.id);
    if (call.deadlineSlot >= 0) deadlines.remove(call);
    call.signal?.removeEventListener("abort", call);
    call.argProducer?.stop();
  }

  #nextId(): number {
    do {
      this.#lastId = this.#lastId >= 0xffffffff ? 1 : this.#lastId + 1;
    } while (this.#calls.has(this.#lastId));
    return this.#lastId;
  }
}
