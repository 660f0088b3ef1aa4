/**
 * @module
 * The one message a machine process inside a Cloud Run worker sends the worker over their IPC channel:
 * the loopback address it serves on. The channel is also the machine's lifeline: it ends itself when
 * the worker goes.
 */

/** Sent by the machine once it serves. */
export interface MachineListening {
  type: "bigmachine:listening";
  /** `127.0.0.1:PORT`. */
  addr: string;
}

/** Builds the listening message. */
export function machineListening(addr: string): MachineListening {
  return { type: "bigmachine:listening", addr };
}

/** The address in `message` if it is a well-formed listening message for a loopback address, else undefined. */
export function listeningAddrOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as Partial<MachineListening>;
  if (m.type !== "bigmachine:listening" || typeof m.addr !== "string") return undefined;
  return /^127\.0\.0\.1:\d{1,5}$/.test(m.addr) ? m.addr : undefined;
}
