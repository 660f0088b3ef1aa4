/**
 * @module
 * {@link ResumableLink}: a {@link Link} that outlives the connections carrying it. Its frames travel
 * over one *carrier* link at a time (a WebSocket, an attach tunnel); when a carrier drops, the owner
 * attaches a new one and the link goes on where it stopped, so a call in flight at a drop keeps
 * running and its reply arrives once, and streams continue in order with nothing lost or repeated.
 *
 * ## Protocol
 *
 * Data frames (the RPC layer's) are numbered implicitly, in each direction, from 0 for the life of
 * the link, and each end keeps what it sent until the other acknowledges it. The link's own frames
 * start with the byte 0, which no RPC frame does (frame kinds start at 1); they are 8 bytes: `0`, an
 * op, and a count as a 48-bit big-endian integer.
 *
 * | op | name   | count                          | meaning                                            |
 * |----|--------|--------------------------------|----------------------------------------------------|
 * | 1  | RESUME | data frames received so far    | the first frame on every carrier, both ways        |
 * | 2  | ACK    | data frames received so far    | the sender may forget frames below the count       |
 * | 3  | CLOSE  | 0                              | the link is over, on purpose: do not resume it     |
 *
 * On a new carrier each end sends RESUME first and sends nothing else until the other's RESUME has
 * arrived; then it forgets what that count acknowledges, resends the rest in order, and carries on.
 * A count outside what the end sent (a peer that forgot frames it acknowledged, or a link resumed
 * against the wrong peer) fails the link: the two ends no longer describe one conversation.
 *
 * Receivers acknowledge every {@link ResumableLinkOptions.ackEveryFrames} frames or
 * {@link ResumableLinkOptions.ackEveryBytes} bytes, and at the latest {@link ResumableLinkOptions.ackDelayMs}
 * after an unacknowledged frame, so a sender's memory is bounded by what one round trip carries.
 * `bufferedAmount` counts the bytes not yet acknowledged, so the RPC layer's stream producers pause
 * while the far end is behind or unreachable. A link holding more than
 * {@link ResumableLinkOptions.maxUnackedBytes} fails, with an error that says so.
 *
 * Carriers must deliver frames whole and in order, and must not reuse a frame's memory after sending
 * it (a frame may be sent again on the next carrier): links that recycle sent buffers into a pool are
 * not carriers.
 */
import { BigmachineError, errorOf } from "../errors.ts";
import type { Link } from "./types.ts";

/** The first byte of the link's own frames; RPC frames never start with it. */
export const LINK_FRAME_BYTE = 0;
const OP_RESUME = 1;
const OP_ACK = 2;
const OP_CLOSE = 3;
const CONTROL_BYTES = 8;

/** Options for {@link ResumableLink}. */
export interface ResumableLinkOptions {
  /** Names the far side in errors, e.g. a machine id. */
  label?: string;
  /** Most bytes sent and not yet acknowledged; beyond it the link fails. Default 256 MiB. */
  maxUnackedBytes?: number;
  /** Acknowledge after this many frames; default 64. */
  ackEveryFrames?: number;
  /** Acknowledge after this many bytes; default 1 MiB. */
  ackEveryBytes?: number;
  /** Acknowledge at the latest this long after a frame arrived; default 20 ms. */
  ackDelayMs?: number;
}

/** Defaults of {@link ResumableLinkOptions}. */
export const RESUMABLE_LINK_DEFAULTS = {
  maxUnackedBytes: 256 * 1024 * 1024,
  ackEveryFrames: 64,
  ackEveryBytes: 1024 * 1024,
  ackDelayMs: 20,
} as const;

/** What the link is doing. */
export type ResumableLinkState = "detached" | "resuming" | "attached" | "closed";

function controlFrame(op: number, count: number): Buffer {
  const frame = Buffer.allocUnsafe(CONTROL_BYTES);
  frame[0] = LINK_FRAME_BYTE;
  frame[1] = op;
  frame.writeUIntBE(count, 2, 6);
  return frame;
}

/**
 * A link that survives its carriers: attach one with {@link attach}, and another each time
 * {@link onDetach} reports the current one gone; {@link fail} it when no carrier can be had.
 */
export class ResumableLink implements Link {
  readonly #options: Required<Omit<ResumableLinkOptions, "label">>;
  readonly #prefix: string;
  /** Sent frames not yet acknowledged, oldest first, from index `#head`. */
  #unacked: Uint8Array[] = [];
  #head = 0;
  /** The number of the frame at `#unacked[#head]`. */
  #firstUnacked = 0;
  #unackedBytes = 0;
  /** Data frames received so far, and the count last acknowledged. */
  #received = 0;
  #acknowledged = 0;
  #bytesSinceAck = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  #carrier: Link | undefined;
  /** True once the current carrier's RESUME exchange is done. */
  #live = false;
  #exchange: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #closed: { err?: Error } | undefined;
  #frameHandler: ((frame: Uint8Array) => void) | undefined;
  #early: Uint8Array[] = [];
  #closeHandler: ((err?: Error) => void) | undefined;
  #detachHandler: ((err?: Error) => void) | undefined;
  #drainWaiters: { bytes: number; wake: () => void }[] = [];
  #markEnded!: (err: Error | undefined) => void;
  /**
   * Resolves once the link has ended, however (closed by either end, failed): with the error it failed
   * with, or undefined for a close on purpose. Owners watch it; the link's one close receiver is the
   * RPC peer's.
   */
  readonly ended: Promise<Error | undefined> = new Promise((resolve) => (this.#markEnded = resolve));

  constructor(options: ResumableLinkOptions = {}) {
    this.#options = {
      maxUnackedBytes: options.maxUnackedBytes ?? RESUMABLE_LINK_DEFAULTS.maxUnackedBytes,
      ackEveryFrames: options.ackEveryFrames ?? RESUMABLE_LINK_DEFAULTS.ackEveryFrames,
      ackEveryBytes: options.ackEveryBytes ?? RESUMABLE_LINK_DEFAULTS.ackEveryBytes,
      ackDelayMs: options.ackDelayMs ?? RESUMABLE_LINK_DEFAULTS.ackDelayMs,
    };
    this.#prefix = options.label ? `${options.label}: ` : "";
  }

  get state(): ResumableLinkState {
    if (this.#closed) return "closed";
    if (this.#carrier === undefined) return "detached";
    return this.#live ? "attached" : "resuming";
  }

  /** Bytes sent and not yet acknowledged by the far end (whether or not a carrier is attached). */
  get bufferedAmount(): number {
    return this.#unackedBytes;
  }

  /** Data frames sent and received so far; for diagnostics and tests. */
  get counts(): { sent: number; received: number; unacked: number } {
    const unacked = this.#unacked.length - this.#head;
    return { sent: this.#firstUnacked + unacked, received: this.#received, unacked };
  }

  /**
   * Carries the link over `carrier` from now on, replacing (and closing) the current one. Resolves
   * once the far end's RESUME has arrived and what it missed has been resent; rejects if the carrier
   * closes first (the owner hears of that through {@link onDetach} too) or the link is closed.
   */
  attach(carrier: Link): Promise<void> {
    if (this.#closed) {
      carrier.close("link closed");
      return Promise.reject(this.#closedError());
    }
    const previous = this.#carrier;
    if (previous !== undefined) {
      this.#dropCarrier(new Error("replaced by a new carrier"));
      previous.close("replaced by a new carrier");
    }
    this.#carrier = carrier;
    this.#live = false;
    const exchanged = new Promise<void>((resolve, reject) => (this.#exchange = { resolve, reject }));
    // RESUME leaves first: a carrier may hand over the far end's RESUME as soon as a receiver is set,
    // and this end resends what the far end missed right then.
    carrier.send(controlFrame(OP_RESUME, this.#received));
    this.#acknowledged = this.#received;
    this.#bytesSinceAck = 0;
    carrier.onFrame((frame) => {
      if (this.#carrier === carrier) this.#onCarrierFrame(frame);
    });
    carrier.onClose((err) => {
      if (this.#carrier === carrier) this.#carrierClosed(err);
    });
    return exchanged;
  }

  /** Closes the current carrier without ending the link (e.g. to rotate it); {@link onDetach} reports it. */
  detach(reason = "detached"): void {
    const carrier = this.#carrier;
    if (carrier === undefined) return;
    this.#carrierClosed(undefined);
    carrier.close(reason);
  }

  /** Sets the receiver of carrier losses. The link lives on; attach another carrier or {@link fail} it. */
  onDetach(handler: (err?: Error) => void): void {
    this.#detachHandler = handler;
  }

  /** Ends the link with `err` (e.g. no carrier could be had in time): calls on it fail with it. */
  fail(err: Error): void {
    if (this.#closed) return;
    const carrier = this.#carrier;
    this.#finish(err);
    carrier?.close(err.message);
  }

  /** Resolves once at most `bytes` remain unacknowledged, or the link has closed. */
  whenBelow(bytes: number): Promise<void> {
    if (this.#unackedBytes <= bytes || this.#closed) return Promise.resolve();
    return new Promise((wake) => this.#drainWaiters.push({ bytes, wake }));
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    if (frame.byteLength === 0 || frame[0] === LINK_FRAME_BYTE) {
      // Not an RPC frame: whoever sent it does not speak the protocol, and the link cannot carry it.
      this.fail(errorOf("invalid", `${this.#prefix}a resumable link carries no empty frames and none starting with byte 0`, { severity: "fatal" }));
      return;
    }
    this.#unacked.push(frame);
    this.#unackedBytes += frame.byteLength;
    if (this.#unackedBytes > this.#options.maxUnackedBytes) {
      this.fail(
        errorOf("unavailable", `${this.#prefix}more than ${this.#options.maxUnackedBytes} bytes sent and not acknowledged by the far end; the link is closed`, {
          severity: "fatal",
        }),
      );
      return;
    }
    if (this.#live) this.#carrier!.send(frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.#frameHandler = handler;
    const early = this.#early;
    this.#early = [];
    for (const frame of early) handler(frame);
  }

  onClose(handler: (err?: Error) => void): void {
    this.#closeHandler = handler;
    if (this.#closed) queueMicrotask(() => this.#reportClose());
  }

  /** Ends the link on purpose: the far end hears CLOSE (when a carrier is up) and does not wait for a resume. */
  close(reason?: string): void {
    if (this.#closed) return;
    const carrier = this.#carrier;
    if (carrier !== undefined && this.#live) carrier.send(controlFrame(OP_CLOSE, 0));
    this.#finish(undefined);
    carrier?.close(reason);
  }

  #onCarrierFrame(frame: Uint8Array): void {
    if (this.#closed) return;
    if (frame.byteLength > 0 && frame[0] === LINK_FRAME_BYTE) return this.#onControl(frame);
    if (!this.#live) return this.#protocolError("a data frame arrived before the far end's RESUME");
    this.#received++;
    this.#bytesSinceAck += frame.byteLength;
    if (this.#received - this.#acknowledged >= this.#options.ackEveryFrames || this.#bytesSinceAck >= this.#options.ackEveryBytes) this.#sendAck();
    else if (this.#ackTimer === undefined) {
      this.#ackTimer = setTimeout(() => this.#sendAck(), this.#options.ackDelayMs);
      this.#ackTimer.unref();
    }
    if (this.#frameHandler !== undefined) this.#frameHandler(frame);
    else this.#early.push(frame);
  }

  #onControl(frame: Uint8Array): void {
    if (frame.byteLength !== CONTROL_BYTES) return this.#protocolError(`a link frame of ${frame.byteLength} bytes`);
    const op = frame[1];
    const count = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).readUIntBE(2, 6);
    switch (op) {
      case OP_RESUME: {
        if (this.#live) return this.#protocolError("a second RESUME on one carrier");
        if (!this.#acknowledge(count)) return;
        this.#live = true;
        const carrier = this.#carrier!;
        for (let i = this.#head; i < this.#unacked.length; i++) carrier.send(this.#unacked[i]);
        const exchange = this.#exchange;
        this.#exchange = undefined;
        exchange?.resolve();
        return;
      }
      case OP_ACK:
        if (!this.#live) return this.#protocolError("an ACK before RESUME");
        this.#acknowledge(count);
        return;
      case OP_CLOSE: {
        const carrier = this.#carrier;
        this.#finish(undefined);
        carrier?.close("closed by the far end");
        return;
      }
      default:
        return this.#protocolError(`unknown link op ${op}`);
    }
  }

  /** Forgets frames below `count`; false (and the link failed) for a count outside what was sent. */
  #acknowledge(count: number): boolean {
    const sent = this.#firstUnacked + (this.#unacked.length - this.#head);
    if (count < this.#firstUnacked || count > sent) {
      this.#protocolError(`the far end says it received ${count} frames, but ${this.#firstUnacked} were acknowledged and ${sent} sent`);
      return false;
    }
    while (this.#firstUnacked < count) {
      this.#unackedBytes -= this.#unacked[this.#head].byteLength;
      this.#unacked[this.#head] = undefined as unknown as Uint8Array;
      this.#head++;
      this.#firstUnacked++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#unacked.length) {
      this.#unacked = this.#unacked.slice(this.#head);
      this.#head = 0;
    }
    this.#wakeDrainWaiters();
    return true;
  }

  #sendAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (!this.#live || this.#received === this.#acknowledged) return;
    this.#carrier!.send(controlFrame(OP_ACK, this.#received));
    this.#acknowledged = this.#received;
    this.#bytesSinceAck = 0;
  }

  #carrierClosed(err: Error | undefined): void {
    this.#dropCarrier(err ?? new Error("the carrier closed"));
    if (!this.#closed) this.#detachHandler?.(err);
  }

  #dropCarrier(why: Error): void {
    this.#carrier = undefined;
    this.#live = false;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const exchange = this.#exchange;
    this.#exchange = undefined;
    exchange?.reject(errorOf("net", `${this.#prefix}the carrier closed before the far end resumed: ${why.message}`, { cause: why }));
  }

  #protocolError(message: string): void {
    this.fail(errorOf("net", `${this.#prefix}resumable link protocol error: ${message}`, { severity: "fatal" }));
  }

  #finish(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = { err };
    this.#dropCarrier(err ?? new Error("the link closed"));
    this.#unacked = [];
    this.#head = 0;
    this.#unackedBytes = 0;
    this.#wakeDrainWaiters();
    this.#markEnded(err);
    queueMicrotask(() => this.#reportClose());
  }

  #reportClose(): void {
    const handler = this.#closeHandler;
    if (handler === undefined || this.#closed === undefined) return;
    this.#closeHandler = undefined;
    handler(this.#closed.err);
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const ready = this.#drainWaiters.filter((w) => this.#closed || this.#unackedBytes <= w.bytes);
    this.#drainWaiters = this.#drainWaiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.wake();
  }

  #closedError(): BigmachineError {
    return errorOf("net", `${this.#prefix}the link is closed`, { cause: this.#closed?.err });
  }
}
