/**
 * @module
 * Reading the body of a refused WebSocket upgrade (`ws`'s `unexpected-response`): enough of it to
 * explain the refusal, never the whole of an arbitrarily large answer.
 */
import type { IncomingMessage } from "node:http";

/** The most of a refusal's body kept. */
export const MAX_REFUSAL_BODY_BYTES = 512;

/**
 * Resolves with the first {@link MAX_REFUSAL_BODY_BYTES} bytes of `res`'s body once it ends, fails or
 * closes (whichever comes first; a cut-short body resolves with what arrived). Never rejects.
 */
export function refusalBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = () => resolve(Buffer.concat(chunks));
    res.on("data", (chunk: Buffer) => {
      if (length < MAX_REFUSAL_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_REFUSAL_BODY_BYTES - length));
      length += chunk.length;
    });
    res.once("end", finish);
    res.once("error", finish);
    res.once("close", finish);
  });
}
