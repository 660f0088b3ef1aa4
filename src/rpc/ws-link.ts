/**
 * @module
 * {@link Link}s over WebSockets (the `ws` package): one frame per binary message. {@link wsLink} adapts
 * an open socket (either end); {@link connectWebSocket} dials one and reports refusals as typed errors.
 */
import WebSocket from "ws";
import { BigmachineError, errorOf } from "../errors.ts";
import { decode } from "./codec.ts";
import { POOLED_FRAME_BYTES, releaseFrame } from "./frame-pool.ts";
import { refusalBody } from "./refusal-body.ts";
import { MSGPACK_CONTENT_TYPE, WS_MAX_PAYLOAD_BYTES } from "./protocol.ts";
import type { Link } from "./types.ts";
import { coalesceWrites } from "./write-coalescer.ts";

/** Close codes that mean the other end closed on purpose rather than the link failing. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);

/**
 * Adapts a `ws` socket (open, or opening) to a {@link Link}. Frames that arrive before `onFrame` is set
 * are held, and a close that happens before `onClose` is set is reported when it is. The close is
 * reported as a failure (an `Error`) unless the far side closed normally.
 */
export function wsLink(ws: WebSocket): Link {
  let frameHandler: ((frame: Uint8Array) => void) | undefined;
  let closeHandler: ((err?: Error) => void) | undefined;
  let early: Uint8Array[] | undefined;
  let failure: Error | undefined;
  let closed: { err?: Error } | undefined;

  const reportClose = () => {
    if (closed && closeHandler) {
      const handler = closeHandler;
      closeHandler = undefined;
      handler(closed.err);
    }
  };

  ws.binaryType = "nodebuffer";
  ws.on("message", (data) => {
    const frame = data as Buffer; // binaryType "nodebuffer": always one Buffer
    if (frameHandler !== undefined) frameHandler(frame);
    else (early ??= []).push(frame);
  });
  ws.on("error", (err: Error) => {
    failure ??= err;
  });
  ws.on("close", (code: number, reason: Buffer) => {
    const clean = CLEAN_CLOSE_CODES.has(code) && failure === undefined;
    const why = reason.length > 0 ? `: ${reason.toString("utf8")}` : "";
    closed = { err: clean ? undefined : new Error(failure ? `websocket failed: ${failure.message}` : `websocket closed with code ${code}${why}`, { cause: failure }) };
    reportClose();
  });
  if (ws.readyState === WebSocket.CLOSED) closed = { err: new Error("websocket already closed") };

  // Frames sent in one turn leave in one write (`write-coalescer.ts`). Large frames go back to the
  // pool at the end of a turn once nothing is queued on the socket any more: by then every frame sent
  // before has been written out (or copied, on a client, which masks what it sends). Checking once per
  // turn costs less than a write callback per frame.
  let sentPooled: Uint8Array[] = [];
  const beforeSend = coalesceWrites(ws, () => {
    if (sentPooled.length > 0 && ws.bufferedAmount === 0) {
      const written = sentPooled;
      sentPooled = [];
      for (const frame of written) releaseFrame(frame);
    }
  });

  return {
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) return;
      beforeSend();
      if (frame.byteLength >= POOLED_FRAME_BYTES) sentPooled.push(frame);
      ws.send(frame);
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    onFrame(handler) {
      frameHandler = handler;
      if (early !== undefined) {
        const held = early;
        early = undefined;
        for (const frame of held) handler(frame);
      }
    },
    onClose(handler) {
      closeHandler = handler;
      if (closed) queueMicrotask(reportClose);
    },
    close(reason) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      // Close reasons are limited to 123 bytes by the WebSocket protocol.
      else ws.close(1000, reason === undefined ? undefined : Buffer.from(reason).subarray(0, 123).toString());
    },
  };
}

/** Options for {@link connectWebSocket}. */
export interface ConnectWebSocketOptions {
  /** Request headers of the upgrade, e.g. credentials. */
  headers?: Record<string, string>;
  /** Aborts the dial; the promise rejects with kind `canceled`. */
  signal?: AbortSignal;
  /** Fails the dial with kind `net` if the handshake takes longer; default 30 s. */
  handshakeTimeoutMs?: number;
  /** Largest message accepted; default {@link WS_MAX_PAYLOAD_BYTES}. */
  maxPayload?: number;
}

/** The message of a refused upgrade's body: a bigmachine error's message, or the text itself. */
function refusalText(body: Buffer, contentType: string): string {
  if (contentType.startsWith(MSGPACK_CONTENT_TYPE)) {
    try {
      const wire = decode(body) as { message?: unknown };
      if (typeof wire?.message === "string") return wire.message;
    } catch {
      // not a whole error (or cut short): fall back to the text
    }
  }
  return body.toString("utf8").trim();
}

/**
 * Dials a `ws://` URL and resolves with a link once the socket is open. A 401 or 403 answer rejects with
 * kind `unauthorized`; any other HTTP answer, a refused connection or a handshake timeout rejects with
 * kind `net`, severity `temporary`.
 */
export function connectWebSocket(url: string, options: ConnectWebSocketOptions = {}): Promise<Link> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(errorOf("canceled", `dial ${url}: canceled`, { cause: signal.reason }));
  return new Promise<Link>((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: options.headers,
      perMessageDeflate: false,
      maxPayload: options.maxPayload ?? WS_MAX_PAYLOAD_BYTES,
      handshakeTimeout: options.handshakeTimeoutMs ?? 30_000,
    });
    let settled = false;
    const fail = (err: BigmachineError) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      ws.removeAllListeners();
      ws.on("error", () => {}); // late socket errors after giving up must not crash the process
      ws.terminate();
      reject(err);
    };
    const onAbort = () => fail(errorOf("canceled", `dial ${url}: canceled`, { cause: signal?.reason }));
    signal?.addEventListener("abort", onAbort, { once: true });

    ws.once("open", () => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      ws.removeAllListeners("error");
      ws.removeAllListeners("unexpected-response");
      resolve(wsLink(ws));
    });
    ws.on("error", (err) => fail(errorOf("net", `dial ${url}: ${err.message}`, { cause: err })));
    ws.once("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      void refusalBody(res).then((bytes) => {
        const body = refusalText(bytes, String(res.headers["content-type"] ?? ""));
        const message = `dial ${url}: HTTP ${status}${body ? `: ${body}` : ""}`;
        fail(status === 401 || status === 403 ? errorOf("unauthorized", message) : errorOf("net", message));
      });
    });
  });
}
