/**
 * @module
 * The bigmachine RPC wire protocol: paths, limits and the binary frames that travel over a {@link Link}.
 *
 * ## HTTP face
 *
 * - `POST /bigrpc/Service.method` with a MessagePack body (the argument; an empty body is `undefined`)
 *   and `content-type: application/x-msgpack`. The answer is 200 with the encoded reply, or an error
 *   status with an encoded {@link WireError} body: 590 when the method (or the dispatcher, e.g. for an
 *   unknown method) threw, otherwise the status of the error's kind (`HTTP_STATUS_OF_KIND`): 400 for a
 *   body that does not decode, 413 for one over the size limit, 401 without credentials, 501 for a
 *   method whose reply is a stream (links carry streams; plain requests do not).
 * - `GET /bigrpc/attach` upgrades to a WebSocket that carries frames, one frame per binary message, in
 *   both directions: either end may call the other.
 *
 * ## Frames
 *
 * Every frame starts with a 5-byte header: one kind byte and the call id as a big-endian u32. Call ids
 * are chosen by the caller, so each end has its own id space; bit 7 of the kind byte (`FROM_CALLEE`)
 * says which one a frame belongs to: clear on frames the caller sends, set on frames the callee sends.
 * Values are MessagePack (see `codec.ts`); bit 6 (`PLAIN_VALUE`) says the frame's value is in the
 * plain form (objects as standard maps, no record extension) rather than the record form. The low six
 * bits are the kind.
 *
 * | kind | name   | sent by  | after the header                                                    |
 * |------|--------|----------|---------------------------------------------------------------------|
 * | 1    | CALL   | caller   | flags u8 (bit 0: the argument is a stream), method length u8, method (UTF-8), argument |
 * | 2    | REPLY  | callee   | the reply value                                                     |
 * | 3    | ERROR  | callee   | a WireError: the call failed                                        |
 * | 4    | STREAM | callee   | nothing: the reply is a stream, items follow                        |
 * | 5    | DATA   | either   | one stream item                                                     |
 * | 6    | BYTES  | either   | one stream item that is a `Uint8Array`, as raw bytes (no encoding)  |
 * | 7    | END    | either   | nothing (the stream ended) or a WireError (the producer failed)     |
 * | 8    | CREDIT | either   | items u32, bytes u32: the consumer grants that much more            |
 * | 9    | CANCEL | either   | nothing. From the caller: cancel the call and its reply stream; from the callee: stop sending the argument stream |
 *
 * The kind byte is never 0: a frame starting with 0 belongs to the link itself (a resumable link's
 * RESUME, ACK and CLOSE; see `resumable-link.ts`) and never reaches a peer.
 *
 * DATA, BYTES and END travel from producer to consumer: with `FROM_CALLEE` clear they belong to the
 * argument stream, with it set to the reply stream. CREDIT travels the other way.
 *
 * ## Flow control
 *
 * A producer starts with a window of {@link STREAM_WINDOW_ITEMS} items and {@link STREAM_WINDOW_BYTES}
 * bytes (counted as whole frames) and sends while both are positive; the consumer grants credit as its
 * reader takes items, in batches of half a window. A producer also pauses while the link's
 * `bufferedAmount` is above {@link LINK_HIGH_WATER_BYTES}, so many streams on one link stay bounded.
 * The consumer keeps the same count (the window plus the credit it has sent, less the items that have
 * arrived): an item that arrives when that count is used up fails the stream with an `invalid` error
 * and a CANCEL, so a producer that ignores credit cannot make its consumer queue without bound.
 *
 * ## Cancellation
 *
 * Deadlines do not travel: when the caller's deadline passes or its signal aborts, the caller fails the
 * call locally and sends CANCEL, and the callee aborts the method's `ctx.signal`. A reader that stops
 * reading a streamed reply sends CANCEL too. When a link closes, each end fails its own calls.
 *
 * ## Errors
 *
 * ERROR frames, failed ENDs and error bodies carry a WireError: kind, severity, message, the original
 * error's class name and a few levels of causes. Its stack only when the serving end was told to send
 * stacks (`error-replies.ts`); otherwise the stack stays in that end's log.
 *
 * A frame whose value is over the receiver's `maxMessageBytes` or does not decode is answered with an
 * `invalid` error for that call (or fails that stream) and the link keeps serving. A frame that cannot
 * be parsed at all (too short, unknown kind, a kind sent in the wrong direction) closes the link: the
 * two ends no longer agree on the protocol. Frames for unknown call ids are dropped; they are the
 * normal tail of a call that was canceled or has settled.
 */

/** The upgrade route that turns an HTTP request into a link. */
export const ATTACH_PATH = "/bigrpc/attach";
/** The prefix of the plain-request route: `POST /bigrpc/Service.method`. */
export const RPC_PATH_PREFIX = "/bigrpc/";
/** The content type of MessagePack bodies on the HTTP face. */
export const MSGPACK_CONTENT_TYPE = "application/x-msgpack";
/** Status of a method's own error on the HTTP face, as in Go bigmachine. */
export const REMOTE_ERROR_STATUS = 590;

/** Default largest single (non-streamed) argument, reply or stream item. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/**
 * Largest WebSocket message accepted at all. Above the RPC limit so an oversized call is answered with
 * an `invalid` error rather than a dropped link; beyond this the WebSocket itself closes.
 */
export const WS_MAX_PAYLOAD_BYTES = 2 * DEFAULT_MAX_MESSAGE_BYTES;

/** Initial (and steady) credit of a stream, in items. */
export const STREAM_WINDOW_ITEMS = 256;
/** Initial (and steady) credit of a stream, in frame bytes. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Stream producers pause while the link has more than this many bytes queued. */
export const LINK_HIGH_WATER_BYTES = 8 * 1024 * 1024;

/** Bit 7 of the kind byte: the frame travels from callee to caller. */
export const FROM_CALLEE = 0x80;

/** Bit 6 of the kind byte: the frame's value is in the codec's plain form. */
export const PLAIN_VALUE = 0x40;
/** The bits of the kind byte that hold the kind. */
export const KIND_MASK = 0x3f;

/** Frame kinds (the low six bits of the kind byte). */
export const FrameKind = {
  CALL: 1,
  REPLY: 2,
  ERROR: 3,
  STREAM: 4,
  DATA: 5,
  BYTES: 6,
  END: 7,
  CREDIT: 8,
  CANCEL: 9,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** CALL flag: the argument is a stream whose items follow in DATA/BYTES frames. */
export const CALL_FLAG_STREAM_ARG = 1;

/** Bytes before the payload of every frame. */
export const HEADER_BYTES = 5;
/** Bytes before the method name of a CALL frame. */
export const CALL_HEADER_BYTES = HEADER_BYTES + 2;
/** Longest method name a CALL frame carries, in UTF-8 bytes. */
export const MAX_METHOD_BYTES = 255;
