/**
 * @module
 * The one message a local machine process sends its driver over the IPC channel: where it listens.
 */

/** Sent by a machine process once it serves its endpoint. */
export interface ListeningMessage {
  type: "bigmachine:listening";
  /** `127.0.0.1:PORT`. */
  addr: string;
}

/** Builds the listening message. */
export function listeningMessage(addr: string): ListeningMessage {
  return { type: "bigmachine:listening", addr };
}

/** The address in `message` if it is a well-formed listening message, else undefined. */
export function listeningAddr(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as Partial<ListeningMessage>;
  if (m.type !== "bigmachine:listening" || typeof m.addr !== "string") return undefined;
  return /^127\.0\.0\.1:\d{1,5}$/.test(m.addr) ? m.addr : undefined;
}
