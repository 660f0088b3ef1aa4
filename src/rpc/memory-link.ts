/**
 * @module
 * An in-memory {@link Link} pair: what the test system uses instead of a socket. Delivery is
 * asynchronous (a microtask drains each direction's queue in order), so code sees the same
 * interleavings as over a real connection, and `bufferedAmount` counts bytes sent but not yet delivered,
 * so backpressure works as it does on a socket. Frames are handed over without copying: a sender must
 * not change a frame after sending it.
 */
import type { Link } from "./types.ts";

class MemoryEnd implements Link {
  other!: MemoryEnd;
  /** Frames on their way to this end. */
  readonly #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #draining = false;
  #frameHandler: ((frame: Uint8Array) => void) | undefined;
  #closeHandler: ((err?: Error) => void) | undefined;
  #closing = false;
  #closeReported = false;

  get bufferedAmount(): number {
    return this.other.#inboxBytes;
  }

  send(frame: Uint8Array): void {
    if (this.#closing) return;
    this.other.#deliver(frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.#frameHandler = handler;
    if (this.#inbox.length > 0) this.#scheduleDrain();
  }

  onClose(handler: (err?: Error) => void): void {
    this.#closeHandler = handler;
    if (this.#closing) this.#scheduleDrain();
  }

  close(): void {
    if (this.#closing) return;
    // Frames already sent either way are still delivered, then both ends report the close, as a
    // WebSocket's close frame follows its data.
    this.#beginClose();
    this.other.#beginClose();
  }

  #beginClose(): void {
    this.#closing = true;
    this.#scheduleDrain();
  }

  #deliver(frame: Uint8Array): void {
    if (this.#closing) return;
    this.#inbox.push(frame);
    this.#inboxBytes += frame.byteLength;
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    this.#draining = false;
    const inbox = this.#inbox;
    if (this.#frameHandler !== undefined && inbox.length > 0) {
      // Frames that arrive while handlers run join this same pass, in order.
      for (let i = 0; i < inbox.length; i++) {
        const frame = inbox[i];
        this.#inboxBytes -= frame.byteLength;
        try {
          this.#frameHandler(frame);
        } catch (err) {
          // A failing receiver must not stall delivery of the frames behind it; surface the error.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
      inbox.length = 0;
    }
    if (this.#closing && !this.#closeReported && this.#closeHandler !== undefined) {
      inbox.length = 0; // undeliverable without a receiver
      this.#inboxBytes = 0;
      this.#closeReported = true;
      this.#closeHandler(undefined);
    }
  }
}

/**
 * Makes two connected in-memory links: a frame sent on one arrives, whole and in order, at the other.
 * Closing either end closes both (after frames already sent are delivered); both report a clean close.
 */
export function linkPair(): [Link, Link] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
