/**
 * @module
 * One end of an attach tunnel (a `ws` socket), read as a queue of whole messages during the handshake
 * and then handed over to whatever carries the frames: the driver's link, or the worker's relay. Both
 * ends of the tunnel use it, so both read the handshake the same way: text messages are control
 * messages, decoded and checked; binary messages are passed on as they are.
 *
 * What is queued is bounded: a handshake is a few messages (the worker's hello, the driver's exec and at
 * most one program), so a peer that sends more than {@link DEFAULT_MAX_QUEUED_MESSAGES} unread messages,
 * or more unread bytes than a program and some headroom, is not doing a handshake. Its tunnel is closed
 * (1008, policy violation) and the read waiting on it fails with kind `invalid`, instead of the queue
 * growing with whatever the peer sends.
 */
import WebSocket from "ws";
import { BigmachineError, errorOf } from "../../core.ts";
import { decodeControl, encodeControl, MAX_PROGRAM_BYTES, type ControlMessage } from "./attach-protocol.ts";

/** Unread messages a tunnel holds before it is closed as flooded. */
export const DEFAULT_MAX_QUEUED_MESSAGES = 64;
/** Unread bytes a tunnel holds before it is closed as flooded: the largest program, and 1 MiB more. */
export const DEFAULT_MAX_QUEUED_BYTES = MAX_PROGRAM_BYTES + 1024 * 1024;
/** The WebSocket close code for a peer that broke the handshake's bounds (policy violation). */
export const FLOODED_CLOSE_CODE = 1008;

/** Options for {@link TunnelSocket}. */
export interface TunnelSocketOptions {
  /** Unread messages held at most; default {@link DEFAULT_MAX_QUEUED_MESSAGES}. */
  maxQueuedMessages?: number;
  /** Unread bytes held at most; default {@link DEFAULT_MAX_QUEUED_BYTES}. */
  maxQueuedBytes?: number;
}

/** A message read from a tunnel during the handshake. */
export type TunnelMessage = { kind: "control"; message: ControlMessage } | { kind: "binary"; data: Buffer };

/** How a tunnel closed. */
export interface TunnelClose {
  /** The WebSocket close code (1006 when the connection dropped without a close frame). */
  code: number;
  reason: string;
  /** The socket error that ended it, if one did. */
  error?: Error;
}

/** Receivers of a tunnel's messages once the handshake is over; see {@link TunnelSocket.forward}. */
export interface TunnelReceivers {
  binary(data: Buffer): void;
  text(text: string): void;
}

/** Options for {@link TunnelSocket.next}. */
export interface NextMessageOptions {
  /** Fails the wait with kind `timeout` after this long. */
  timeoutMs: number;
  /** What is awaited, for error messages, e.g. "the worker's hello". */
  what: string;
  /** Aborting fails the wait with kind `canceled`. */
  signal?: AbortSignal;
}

interface RawMessage {
  data: Buffer;
  binary: boolean;
}

/** A tunnel's socket with its messages queued in arrival order until they are asked for or forwarded. */
export class TunnelSocket {
  /** The underlying socket, for flow control (`pause`, `resume`, `bufferedAmount`). */
  readonly ws: WebSocket;
  /** Resolves once the socket has closed, however it closed. */
  readonly closed: Promise<TunnelClose>;
  #queue: RawMessage[] = [];
  #queuedBytes = 0;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  /** Why the queue was dropped and the tunnel closed, once the peer flooded it. */
  #flooded: BigmachineError | undefined;
  #receivers: TunnelReceivers | undefined;
  #wake: (() => void) | undefined;
  #close: TunnelClose | undefined;
  #error: Error | undefined;

  constructor(ws: WebSocket, options: TunnelSocketOptions = {}) {
    this.ws = ws;
    this.#maxMessages = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED_MESSAGES;
    this.#maxBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    ws.binaryType = "nodebuffer";
    this.closed = new Promise<TunnelClose>((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        this.#close = { code, reason: reason.toString("utf8"), error: this.#error };
        resolve(this.#close);
        this.#wake?.();
      });
      if (ws.readyState === WebSocket.CLOSED) {
        this.#close = { code: 1006, reason: "already closed" };
        resolve(this.#close);
      }
    });
    ws.on("error", (err: Error) => {
      this.#error ??= err;
    });
    ws.on("message", (data: Buffer, binary: boolean) => {
      if (this.#receivers !== undefined) this.#deliver(this.#receivers, { data, binary });
      else this.#enqueue({ data, binary });
    });
  }

  /** Whether the socket is open for sending. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** How the socket closed, once it has. */
  get closeInfo(): TunnelClose | undefined {
    return this.#close;
  }

  /**
   * The next message. Rejects with kind `invalid` for a text message that is not a well-formed control
   * message, `timeout` or `canceled` as the options say, and `net` (temporary) once the socket has
   * closed with nothing left to read.
   */
  next(options: NextMessageOptions): Promise<TunnelMessage> {
    if (this.#receivers !== undefined) return Promise.reject(errorOf("precondition", "the tunnel's messages were already handed over", { severity: "fatal" }));
    if (this.#wake !== undefined) return Promise.reject(errorOf("precondition", "another read of the tunnel is waiting", { severity: "fatal" }));
    const { signal } = options;
    return new Promise<TunnelMessage>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        settle();
      };
      const onAbort = () => finish(() => reject(errorOf("canceled", `waiting for ${options.what} was canceled`, { cause: signal?.reason })));
      const check = () => {
        if (this.#flooded !== undefined) return finish(() => reject(this.#flooded));
        const message = this.#queue.shift();
        if (message !== undefined) {
          this.#queuedBytes -= message.data.byteLength;
          finish(() => {
            try {
              resolve(toTunnelMessage(message));
            } catch (err) {
              reject(err);
            }
          });
        } else if (this.#close !== undefined) {
          finish(() => reject(closedError(this.#close!, `waiting for ${options.what}`)));
        }
      };
      if (signal?.aborted) return onAbort();
      this.#wake = check;
      timer = setTimeout(() => finish(() => reject(errorOf("timeout", `${options.what} did not arrive within ${options.timeoutMs} ms`))), options.timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      check();
    });
  }

  /**
   * Hands every later message to `receivers`, starting with those still queued, in order. Called
   * once, when the handshake is over; text is passed on undecoded, as the receiver decides what it means.
   */
  forward(receivers: TunnelReceivers): void {
    if (this.#receivers !== undefined) throw errorOf("precondition", "the tunnel's messages were already handed over", { severity: "fatal" });
    this.#receivers = receivers;
    const queued = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const message of queued) this.#deliver(receivers, message);
  }

  /**
   * Sends a control message; dropped when the socket is not open (its close is reported instead).
   * `done` runs once it has been written out, or at once when it was dropped.
   */
  sendControl(message: ControlMessage, done?: (err?: Error) => void): void {
    if (this.open) this.ws.send(encodeControl(message), done);
    else done?.(errorOf("net", "the tunnel is closed"));
  }

  /** Sends one binary message; `done` runs once it has been written out (or failed). */
  sendBinary(data: Uint8Array, done?: (err?: Error) => void): void {
    if (this.open) this.ws.send(data, { binary: true }, done);
    else done?.(errorOf("net", "the tunnel is closed"));
  }

  /** Closes the socket with `code` and a reason (cut to the protocol's 123 bytes); idempotent. */
  close(code = 1000, reason = ""): void {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  }

  /** Closes as {@link close} does and resolves once closed, ending the connection if that takes over `boundMs`. */
  async closeAndWait(code: number, reason: string, boundMs: number): Promise<void> {
    this.close(code, reason);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
    await Promise.race([this.closed, late]);
    clearTimeout(timer);
    if (this.#close === undefined) this.ws.terminate();
  }

  /** Queues a message until it is read or forwarded; a peer past the bounds gets its tunnel closed. */
  #enqueue(message: RawMessage): void {
    if (this.#flooded !== undefined) return;
    this.#queue.push(message);
    this.#queuedBytes += message.data.byteLength;
    if (this.#queue.length > this.#maxMessages || this.#queuedBytes > this.#maxBytes) {
      const what = this.#queue.length > this.#maxMessages ? `more than ${this.#maxMessages} messages` : `more than ${this.#maxBytes} bytes`;
      this.#flooded = errorOf("invalid", `the tunnel's peer sent ${what} that were not read during the handshake; the tunnel was closed`, { severity: "fatal" });
      this.#queue = [];
      this.#queuedBytes = 0;
      this.close(FLOODED_CLOSE_CODE, "handshake flooded");
    }
    this.#wake?.();
  }

  #deliver(receivers: TunnelReceivers, message: RawMessage): void {
    if (message.binary) receivers.binary(message.data);
    else receivers.text(message.data.toString("utf8"));
  }
}

function toTunnelMessage(message: RawMessage): TunnelMessage {
  if (message.binary) return { kind: "binary", data: message.data };
  return { kind: "control", message: decodeControl(message.data.toString("utf8")) };
}

/** The error for a tunnel that closed while something was still expected of it: kind `net`, temporary. */
export function closedError(close: TunnelClose, during: string): BigmachineError {
  const why = close.error ? `failed: ${close.error.message}` : `closed with code ${close.code}${close.reason ? `: ${close.reason}` : ""}`;
  return errorOf("net", `the tunnel ${why} (while ${during})`, { cause: close.error });
}
