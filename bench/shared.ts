/**
 * @module
 * What the benchmark's parent and its server child agree on: the ports message and the text commands
 * of the raw WebSocket server (binary messages are echoed).
 */

/** Ports of the three servers, sent by the child over IPC. */
export interface BenchPorts {
  rpc: number;
  ws: number;
  http: number;
}

/** `stream COUNT SIZE`: the server sends COUNT chunks of SIZE bytes. */
export const RAW_STREAM_COMMAND = "stream";
/** `sink COUNT SIZE`: the server swallows COUNT × SIZE bytes, then answers {@link RAW_SINK_DONE}. */
export const RAW_SINK_COMMAND = "sink";
export const RAW_SINK_DONE = "done";
/** Senders pause while more than this is queued on a socket. */
export const HIGH_WATER_BYTES = 4 * 1024 * 1024;
