/**
 * @module
 * What a machine process inside a Cloud Run worker and the worker say over their IPC channel. The
 * worker hands the machine each tunnel's connection once the attach is accepted (and, for a fresh
 * attach, its handshake done); the machine serves its resumable link over it and reports what the
 * worker must know to answer later attaches: that a tunnel's driver resumed (the old resume token
 * can be forgotten), that a tunnel closed (a resume may come), and that the link ended (the machine
 * is no longer wanted). The channel is also the machine's lifeline: it ends itself when the worker goes.
 */

/** Sent by the machine once it can take tunnels. */
export interface MachineReady {
  type: "bigmachine:machine-ready";
}

/** Sent by the worker with a tunnel's connection as the message's handle. */
export interface TunnelHandover {
  type: "bigmachine:tunnel";
  /** The worker's number for the tunnel, named again in the machine's reports on it. */
  tunnel: number;
  machineId: string;
  /** The token the driver's next resume must carry, sent in this tunnel's `ready`. */
  resumeToken: string;
}

/**
 * What the machine reports about a tunnel or its link; `exit-told` says it wrote its end on the open
 * tunnel as it exits (sent from the exit itself, so it may not arrive).
 */
export type MachineReport =
  | { type: "bigmachine:resumed"; tunnel: number }
  | { type: "bigmachine:tunnel-closed"; tunnel: number }
  | { type: "bigmachine:link-ended"; error?: string }
  | { type: "bigmachine:exit-told" };

export const MACHINE_READY: MachineReady = { type: "bigmachine:machine-ready" };

function isRecord(message: unknown): message is Record<string, unknown> {
  return typeof message === "object" && message !== null;
}

/** Whether `message` says the machine can take tunnels. */
export function isMachineReady(message: unknown): boolean {
  return isRecord(message) && message.type === MACHINE_READY.type;
}

/** `message` as a handover, if it is a well-formed one. */
export function tunnelHandoverOf(message: unknown): TunnelHandover | undefined {
  if (!isRecord(message) || message.type !== "bigmachine:tunnel") return undefined;
  const { tunnel, machineId, resumeToken } = message;
  if (!Number.isSafeInteger(tunnel) || typeof machineId !== "string" || typeof resumeToken !== "string") return undefined;
  return { type: "bigmachine:tunnel", tunnel: tunnel as number, machineId, resumeToken };
}

/** `message` as a machine's report, if it is a well-formed one. */
export function machineReportOf(message: unknown): MachineReport | undefined {
  if (!isRecord(message)) return undefined;
  switch (message.type) {
    case "bigmachine:resumed":
    case "bigmachine:tunnel-closed":
      return Number.isSafeInteger(message.tunnel) ? { type: message.type, tunnel: message.tunnel as number } : undefined;
    case "bigmachine:link-ended":
      return typeof message.error === "string" ? { type: message.type, error: message.error } : { type: message.type };
    case "bigmachine:exit-told":
      return { type: message.type };
    default:
      return undefined;
  }
}
