/**
 * @module
 * The RPC layer of bigmachine: calls as binary frames over multiplexed links (WebSockets or in-memory
 * pairs), a hono app as the HTTP face, streams with flow control, per-method statistics and fault
 * injection. See `protocol.ts` for the wire protocol.
 */
export { encode, decode } from "./codec.ts";
export { linkPair } from "./memory-link.ts";
export { wsLink, connectWebSocket, type ConnectWebSocketOptions } from "./ws-link.ts";
export { coalesceWrites, type BeforeSend } from "./write-coalescer.ts";
export { refusalBody, MAX_REFUSAL_BODY_BYTES } from "./refusal-body.ts";
export { RpcPeer, type RpcPeerOptions } from "./peer.ts";
export { ResumableLink, RESUMABLE_LINK_DEFAULTS, LINK_FRAME_BYTE, type ResumableLinkOptions, type ResumableLinkState } from "./resumable-link.ts";
export { streamLink, type StreamLink } from "./stream-link.ts";
export type { FaultInjector } from "./faults.ts";
export { RpcServer, type RpcServerOptions } from "./server.ts";
export { ErrorReplies, type ErrorRepliesOptions } from "./error-replies.ts";
export { listen, type ListenOptions, type ListeningEndpoint } from "./node-server.ts";
export { RemoteStream } from "./stream.ts";
export {
  ATTACH_PATH,
  RPC_PATH_PREFIX,
  MSGPACK_CONTENT_TYPE,
  REMOTE_ERROR_STATUS,
  DEFAULT_MAX_MESSAGE_BYTES,
  LINK_HIGH_WATER_BYTES,
  WS_MAX_PAYLOAD_BYTES,
} from "./protocol.ts";
export type { Link, CallContext, Dispatcher, CallOptions, MethodStats } from "./types.ts";
export type { RpcEndpoint } from "./endpoint.ts";
