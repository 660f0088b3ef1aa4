/**
 * @module
 * The serving half of a peer: runs incoming CALL frames through the dispatcher and sends back one
 * REPLY, ERROR or streamed reply per call. A call's `ctx.signal` aborts when the caller cancels, its
 * deadline passes on the caller's side, or the link drops.
 */
import { BigmachineError, errorOf, remoteError } from "../errors.ts";
import { bareFrame, callFlags, callMethod, callPayloadStart, encodedFlag, encodeFrameValue, errorFrame, frameValue, payloadFrame, readU32 } from "./frames.ts";
import { CALL_FLAG_STREAM_ARG, FROM_CALLEE, FrameKind, HEADER_BYTES } from "./protocol.ts";
import type { StatsTable } from "./stats.ts";
import { closeIterator, isStreamable, RemoteStream, StreamProducer } from "./stream.ts";
import type { CallContext, Dispatcher } from "./types.ts";
import type { Wire } from "./wire.ts";

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** One call being served; it is the method's {@link CallContext}. */
class IncomingCall implements CallContext {
  readonly id: number;
  readonly method: string;
  readonly startedAt = performance.now();
  bytesIn: number;
  /** Canceled, or finished: nothing more is sent for it. */
  done = false;
  /** The reply (or error, or stream start) was sent and counted. */
  answered = false;
  argStream: RemoteStream | undefined;
  replyProducer: StreamProducer | undefined;
  // Most methods never look at their signal: the controller is made only when they do.
  #controller: AbortController | undefined;
  #abortReason: BigmachineError | undefined;

  constructor(id: number, method: string, bytesIn: number) {
    this.id = id;
    this.method = method;
    this.bytesIn = bytesIn;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  abort(reason: BigmachineError): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
}

/** The incoming calls of one peer. @internal */
export class Callee {
  readonly #wire: Wire;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #stats: StatsTable;
  readonly #protocolError: (message: string) => void;
  readonly #calls = new Map<number, IncomingCall>();
  #closed = false;

  constructor(wire: Wire, dispatcher: Dispatcher | undefined, stats: StatsTable, protocolError: (message: string) => void) {
    this.#wire = wire;
    this.#dispatcher = dispatcher;
    this.#stats = stats;
    this.#protocolError = protocolError;
  }

  /** Handles a frame the caller sent (`kind` without the direction bit). */
  onFrame(kind: number, id: number, frame: Uint8Array): void {
    if (kind === FrameKind.CALL) {
      this.#accept(id, frame);
      return;
    }
    const call = this.#calls.get(id);
    if (call === undefined) return; // the tail of a call that has finished
    switch (kind) {
      case FrameKind.CANCEL:
        this.#cancel(call, errorOf("canceled", `${call.method}: canceled by the caller`));
        return;
      case FrameKind.DATA:
      case FrameKind.BYTES:
        call.argStream?.push(frame);
        return;
      case FrameKind.END:
        if (call.argStream === undefined) return;
        if (frame.byteLength === HEADER_BYTES) {
          call.argStream.end();
          return;
        }
        try {
          call.argStream.fail(remoteError(frameValue(frame, HEADER_BYTES), call.method));
        } catch (err) {
          call.argStream.fail(err as BigmachineError);
        }
        return;
      case FrameKind.CREDIT:
        if (frame.byteLength >= HEADER_BYTES + 8) call.replyProducer?.credit(readU32(frame, HEADER_BYTES), readU32(frame, HEADER_BYTES + 4));
        return;
      default:
        this.#protocolError(`unexpected frame kind ${kind} from a caller`);
    }
  }

  /** Aborts every call: the link is gone. */
  closeAll(reason: string): void {
    this.#closed = true;
    for (const call of [...this.#calls.values()]) this.#cancel(call, errorOf("net", `${this.#wire.prefix}${reason}`));
  }

  /** Calls being served; for tests and diagnostics. */
  get active(): number {
    return this.#calls.size;
  }

  #accept(id: number, frame: Uint8Array): void {
    if (this.#closed) return;
    if (this.#calls.has(id)) return this.#protocolError(`call id ${id} is already in use`);
    const payloadStart = callPayloadStart(frame);
    if (payloadStart < 0) return this.#protocolError("truncated CALL frame");
    const call = new IncomingCall(id, callMethod(frame, payloadStart), frame.byteLength);
    if (this.#dispatcher === undefined) {
      return this.#answerError(call, errorOf("not-supported", `${this.#wire.prefix}this end of the link serves no calls`, { severity: "fatal" }));
    }
    let arg: unknown;
    if (callFlags(frame) & CALL_FLAG_STREAM_ARG) {
      arg = call.argStream = new RemoteStream(this.#wire, id, {
        direction: FROM_CALLEE,
        onCancel: () => this.#wire.link.send(bareFrame(FrameKind.CANCEL | FROM_CALLEE, id)),
        traffic: (bytes) => this.#stats.bytes(call.method, bytes, 0),
      });
    } else {
      const size = frame.byteLength - payloadStart;
      try {
        if (size > this.#wire.maxMessageBytes) throw this.#wire.tooLarge(`argument of ${call.method}`, size);
        arg = frameValue(frame, payloadStart);
      } catch (err) {
        return this.#answerError(call, err);
      }
    }
    if (call.argStream !== undefined) this.#track(call);
    this.#run(call, this.#dispatcher, arg);
  }

  // A call enters the table only once a frame may arrive for it (its argument stream's items, a
  // CANCEL while it runs, CREDIT for its reply stream): a method that answers at once is done before
  // the link reads its next frame, and never needs it.
  #track(call: IncomingCall): void {
    if (call.done) return;
    if (this.#closed) this.#cancel(call, errorOf("net", `${this.#wire.prefix}link closed`));
    else this.#calls.set(call.id, call);
  }

  // A method that returns a plain value is answered at once, in the turn its CALL arrived; a promise
  // is answered from its reaction (no async function, so no suspended frame per call).
  #run(call: IncomingCall, dispatcher: Dispatcher, arg: unknown): void {
    let result: unknown;
    try {
      result = dispatcher.dispatch(call.method, arg, call);
    } catch (err) {
      this.#failed(call, err);
      return;
    }
    if (isThenable(result)) {
      this.#track(call);
      result.then(
        (reply) => this.#reply(call, reply),
        (err) => this.#failed(call, err),
      );
    } else {
      this.#reply(call, result);
    }
  }

  /** The method failed (threw or rejected). */
  #failed(call: IncomingCall, err: unknown): void {
    if (!call.done) this.#answerError(call, err);
    this.#finish(call);
  }

  #reply(call: IncomingCall, reply: unknown): void {
    if (call.done) {
      // The caller gave up; release a stream nobody will read.
      if (isStreamable(reply)) closeIterator(reply[Symbol.asyncIterator]());
      return;
    }
    if (isStreamable(reply)) {
      this.#track(call);
      void this.#streamReply(call, reply);
      return;
    }
    let frame: Uint8Array;
    try {
      const payload = encodeFrameValue(reply);
      if (payload.byteLength > this.#wire.maxMessageBytes) throw this.#wire.tooLarge(`reply of ${call.method}`, payload.byteLength);
      frame = payloadFrame(FrameKind.REPLY | FROM_CALLEE | encodedFlag, call.id, payload);
    } catch (err) {
      this.#answerError(call, err);
      this.#finish(call);
      return;
    }
    this.#answer(call, true, frame);
    this.#finish(call);
  }

  async #streamReply(call: IncomingCall, reply: AsyncIterable<unknown>): Promise<void> {
    this.#answer(call, true, bareFrame(FrameKind.STREAM | FROM_CALLEE, call.id));
    call.replyProducer = new StreamProducer(this.#wire, call.id, FROM_CALLEE, call.method, reply, (bytes) => this.#stats.bytes(call.method, 0, bytes));
    await call.replyProducer.run();
    this.#finish(call);
  }

  #answer(call: IncomingCall, ok: boolean, frame: Uint8Array): void {
    call.answered = true;
    this.#wire.link.send(frame);
    this.#stats.settled(call.method, ok, performance.now() - call.startedAt, call.bytesIn, frame.byteLength);
  }

  #answerError(call: IncomingCall, err: unknown): void {
    this.#answer(call, false, errorFrame(FrameKind.ERROR | FROM_CALLEE, call.id, this.#wire.errors.answer(call.method, err)));
  }

  #cancel(call: IncomingCall, reason: BigmachineError): void {
    if (call.done) return;
    if (!call.answered) {
      call.answered = true;
      this.#stats.settled(call.method, false, performance.now() - call.startedAt, call.bytesIn, 0);
    }
    call.abort(reason);
    call.argStream?.fail(reason);
    call.replyProducer?.stop();
    this.#finish(call);
  }

  #finish(call: IncomingCall): void {
    call.done = true;
    if (this.#calls.get(call.id) === call) this.#calls.delete(call.id);
    // A method that returned without reading all of its streamed argument: stop the caller sending it.
    if (call.argStream !== undefined && !call.argStream.finished) void call.argStream.return();
  }
}
