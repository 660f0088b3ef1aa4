/**
 * @module
 * Reuse of large frame buffers. Every streamed 64 KiB item needs a fresh frame (header plus bytes), and
 * allocating one per item grows V8's external memory fast enough to force a full garbage collection
 * every few dozen megabytes: that, not the copy, was most of a stream's cost on the sending side.
 * Links that copy a frame out (a WebSocket, once the frame is written to the socket) hand it back with
 * {@link releaseFrame}; links that pass frames on by reference (the in-memory pair) never do, and those
 * frames are simply collected.
 */

/** Frames at least this large are pooled; smaller ones come from Node's own buffer pool. */
export const POOLED_FRAME_BYTES = 16 * 1024;
/** Most bytes kept idle in the pool. */
const MAX_IDLE_BYTES = 16 * 1024 * 1024;

/** Idle frames by exact size: streams send items of one size, so exact sizes are reused. */
const idle = new Map<number, Buffer[]>();
let idleBytes = 0;
/** Pooled frames handed out and not yet released; a second release of a frame is ignored. */
const outstanding = new WeakSet<Uint8Array>();

/** A buffer of exactly `size` bytes for a frame, reused when one of that size is idle. */
export function allocFrame(size: number): Buffer {
  if (size < POOLED_FRAME_BYTES) return Buffer.allocUnsafe(size);
  const frame = idle.get(size)?.pop();
  if (frame !== undefined) idleBytes -= size;
  const out = frame ?? Buffer.allocUnsafeSlow(size);
  outstanding.add(out);
  return out;
}

/** Returns a frame the caller (a link) no longer references. Frames not from the pool are ignored. */
export function releaseFrame(frame: Uint8Array): void {
  if (frame.byteLength < POOLED_FRAME_BYTES || !outstanding.delete(frame)) return;
  if (idleBytes + frame.byteLength > MAX_IDLE_BYTES) return;
  let bucket = idle.get(frame.byteLength);
  if (bucket === undefined) {
    if (idle.size >= 64) return; // many sizes in play: reuse would be rare anyway
    bucket = [];
    idle.set(frame.byteLength, bucket);
  }
  bucket.push(frame as Buffer);
  idleBytes += frame.byteLength;
}

/** Bytes idle in the pool; for tests. */
export function idleFrameBytes(): number {
  return idleBytes;
}
