/**
 * @module
 * Streams over a link: {@link StreamProducer} sends the items of an `AsyncIterable` as DATA or BYTES
 * frames within the credit its consumer grants, and {@link RemoteStream} is the `AsyncIterable` the
 * consumer reads, granting credit as its reader takes items.
 */
import { BigmachineError, errorOf } from "../errors.ts";
import { bareFrame, creditFrame, encodedFlag, encodeFrameValue, errorFrame, frameValue, payloadFrame } from "./frames.ts";
import { FrameKind, HEADER_BYTES, KIND_MASK, STREAM_WINDOW_BYTES, STREAM_WINDOW_ITEMS } from "./protocol.ts";
import type { Wire } from "./wire.ts";

/**
 * Whether `value` travels as a stream: an `AsyncIterable` that is not a string, array, Map or typed
 * array (none of which is async-iterable today; the exclusions keep it that way).
 */
export function isStreamable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function" &&
    !Array.isArray(value) &&
    !ArrayBuffer.isView(value) &&
    !(value instanceof Map)
  );
}

/** Releases an iterator the caller no longer reads; its failures are of no interest by then. */
export function closeIterator(iterator: AsyncIterator<unknown> | undefined): void {
  if (iterator?.return === undefined) return;
  try {
    Promise.resolve(iterator.return()).catch(() => {});
  } catch {
    // a throwing return() has nothing left to release
  }
}

/** What a producer reports about its traffic. */
export interface StreamTraffic {
  (bytesOut: number): void;
}

/**
 * Sends the items of `source` as frames of call `id` and direction `direction` (0 from the caller,
 * `FROM_CALLEE` from the callee), ending with an END frame that carries the error if `source` throws
 * (answered as the wire's error policy says: logged, and with a stack only when asked for).
 */
export class StreamProducer {
  readonly #wire: Wire;
  readonly #id: number;
  readonly #direction: number;
  readonly #method: string;
  readonly #iterator: AsyncIterator<unknown>;
  readonly #traffic: StreamTraffic;
  #items = STREAM_WINDOW_ITEMS;
  #bytes = STREAM_WINDOW_BYTES;
  #wake: (() => void) | undefined;
  #stopped = false;
  #finished = false;

  constructor(wire: Wire, id: number, direction: number, method: string, source: AsyncIterable<unknown>, traffic: StreamTraffic) {
    this.#wire = wire;
    this.#id = id;
    this.#direction = direction;
    this.#method = method;
    this.#traffic = traffic;
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Adds credit granted by the consumer. */
  credit(items: number, bytes: number): void {
    this.#items += items;
    this.#bytes += bytes;
    this.#wakeUp();
  }

  /** Stops sending (the consumer went away or the call ended) and releases the source. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wakeUp();
    if (!this.#finished) closeIterator(this.#iterator);
  }

  /** Sends every item, then END; resolves when done or stopped. Never rejects. */
  async run(): Promise<void> {
    const wire = this.#wire;
    try {
      for (;;) {
        while (!this.#stopped && (this.#items <= 0 || this.#bytes <= 0)) await new Promise<void>((resolve) => (this.#wake = resolve));
        while (!this.#stopped && wire.congested) await wire.drained();
        if (this.#stopped) return;
        const next = await this.#iterator.next();
        if (this.#stopped) return;
        if (next.done) {
          this.#finished = true;
          this.#send(bareFrame(FrameKind.END | this.#direction, this.#id));
          return;
        }
        const frame = this.#itemFrame(next.value);
        this.#items--;
        this.#bytes -= frame.byteLength;
        this.#send(frame);
      }
    } catch (err) {
      this.#finished = true;
      if (!this.#stopped) this.#send(errorFrame(FrameKind.END | this.#direction, this.#id, this.#wire.errors.answer(this.#method, err)));
      // The source may have failed (then it is done) or our encoding did (then release it).
      closeIterator(this.#iterator);
    }
  }

  #itemFrame(item: unknown): Uint8Array {
    // Byte items go as they are: no encoding, one copy into the frame, none on the receiving side.
    if (item instanceof Uint8Array) {
      if (item.byteLength > this.#wire.maxMessageBytes) throw this.#wire.tooLarge("stream item", item.byteLength);
      return payloadFrame(FrameKind.BYTES | this.#direction, this.#id, item);
    }
    const payload = encodeFrameValue(item);
    if (payload.byteLength > this.#wire.maxMessageBytes) throw this.#wire.tooLarge("stream item", payload.byteLength);
    return payloadFrame(FrameKind.DATA | this.#direction | encodedFlag, this.#id, payload);
  }

  #send(frame: Uint8Array): void {
    this.#wire.link.send(frame);
    this.#traffic(frame.byteLength);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** How a {@link RemoteStream} talks back to its producer. */
export interface StreamControl {
  /** The kind byte direction of this consumer's CREDIT and CANCEL frames. */
  direction: number;
  /** Called when the reader stops early or the stream fails locally; the producer must stop. */
  onCancel(): void;
  /** Counts received bytes. */
  traffic(bytesIn: number): void;
}

type Waiter = { resolve: (result: IteratorResult<unknown>) => void; reject: (err: unknown) => void };

const DONE: IteratorResult<unknown> = Object.freeze({ done: true, value: undefined });

/**
 * The consumer end of a stream: an `AsyncIterableIterator` of the items a producer sends. It yields
 * every item that arrived, then ends, or throws the error the stream failed with; it never ends early
 * without saying why. `return()` (breaking out of a loop) stops the producer.
 *
 * It also keeps the producer to its credit: it counts what it has granted and what has arrived, exactly
 * as an honest producer counts on its side (it sends while both its item and byte credit are positive),
 * so an item that arrives when no credit is left can only come from a producer that ignores flow
 * control. That fails the stream with kind `invalid` and stops the producer; later items are dropped,
 * so such a peer cannot make the receiver queue more than one window.
 */
export class RemoteStream<T = unknown> implements AsyncIterableIterator<T> {
  readonly #wire: Wire;
  readonly #id: number;
  readonly #control: StreamControl;
  #frames: Uint8Array[] = [];
  #head = 0;
  #waiters: Waiter[] = [];
  #ended = false;
  #error: BigmachineError | undefined;
  #closed = false;
  #grantItems = 0;
  #grantBytes = 0;
  /** The producer's credit as this end knows it: the window plus grants sent, less what arrived. */
  #creditItems = STREAM_WINDOW_ITEMS;
  #creditBytes = STREAM_WINDOW_BYTES;

  /** @internal */
  constructor(wire: Wire, id: number, control: StreamControl) {
    this.#wire = wire;
    this.#id = id;
    this.#control = control;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Whether the stream ended, failed or was closed: no more frames are expected. */
  get finished(): boolean {
    return this.#ended || this.#error !== undefined || this.#closed;
  }

  /** Takes a DATA or BYTES frame. @internal */
  push(frame: Uint8Array): void {
    if (this.finished) return;
    this.#control.traffic(frame.byteLength);
    const size = frame.byteLength - HEADER_BYTES;
    if (size > this.#wire.maxMessageBytes) {
      this.fail(this.#wire.tooLarge("stream item", size));
      this.#control.onCancel();
      return;
    }
    if (this.#creditItems <= 0 || this.#creditBytes <= 0) {
      const owed = this.#creditItems <= 0 ? `${STREAM_WINDOW_ITEMS} items` : `${STREAM_WINDOW_BYTES} bytes`;
      this.fail(errorOf("invalid", `${this.#wire.prefix}stream ${this.#id}: the producer sent an item past its credit (a window of ${owed} not yet read); it ignores flow control`, { severity: "fatal" }));
      this.#control.onCancel();
      return;
    }
    this.#creditItems--;
    this.#creditBytes -= frame.byteLength;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#frames.push(frame);
      return;
    }
    try {
      waiter.resolve(this.#read(frame));
    } catch (err) {
      waiter.reject(err);
    }
  }

  /** The producer finished. @internal */
  end(): void {
    if (this.finished) return;
    this.#ended = true;
    this.#settleWaiters();
  }

  /** The stream failed with `err`; the reader sees it after the items that arrived before it. @internal */
  fail(err: BigmachineError): void {
    if (this.finished) return;
    this.#error = err;
    this.#settleWaiters();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#frames.length) {
      const frame = this.#frames[this.#head];
      this.#frames[this.#head++] = undefined!;
      if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
        this.#frames = this.#frames.slice(this.#head);
        this.#head = 0;
      }
      try {
        return Promise.resolve(this.#read(frame));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended || this.#closed) return Promise.resolve(DONE as IteratorResult<T>);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve: resolve as Waiter["resolve"], reject }));
  }

  /** Stops reading: the producer is told to stop and queued items are dropped. */
  return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.#closed = true;
      this.#control.onCancel();
    }
    this.#frames = [];
    this.#head = 0;
    this.#settleWaiters();
    return Promise.resolve(DONE as IteratorResult<T>);
  }

  /** The result for a queued frame; a frame that does not decode fails the stream and throws. */
  #read(frame: Uint8Array): IteratorResult<T> {
    let value: unknown;
    try {
      value = (frame[0] & KIND_MASK) === FrameKind.BYTES ? frame.subarray(HEADER_BYTES) : frameValue(frame, HEADER_BYTES);
    } catch (err) {
      const failure = err instanceof BigmachineError ? err : errorOf("invalid", String(err));
      this.#frames = [];
      this.#head = 0;
      this.fail(failure);
      this.#control.onCancel();
      throw failure;
    }
    this.#grant(frame.byteLength);
    return { done: false, value: value as T };
  }

  #grant(bytes: number): void {
    if (this.finished) return;
    this.#grantItems++;
    this.#grantBytes += bytes;
    if (this.#grantItems >= STREAM_WINDOW_ITEMS / 2 || this.#grantBytes >= STREAM_WINDOW_BYTES / 2) {
      this.#wire.link.send(creditFrame(FrameKind.CREDIT | this.#control.direction, this.#id, this.#grantItems, this.#grantBytes));
      this.#creditItems += this.#grantItems;
      this.#creditBytes += this.#grantBytes;
      this.#grantItems = 0;
      this.#grantBytes = 0;
    }
  }

  #settleWaiters(): void {
    if (this.#head < this.#frames.length) return; // waiters exist only when nothing is queued
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (this.#error !== undefined) waiter.reject(this.#error);
      else waiter.resolve(DONE);
    }
  }
}
