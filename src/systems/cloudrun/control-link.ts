/**
 * @module
 * The driver's end of an attach tunnel once the machine is ready, as an RPC {@link Link}: binary
 * messages are frames; text messages are the worker's control messages, which never reach the RPC
 * layer. The worker's `exit` is kept and reported, both to a callback and as the error the link closes
 * with, so calls in flight fail saying how the machine ended rather than as a dropped connection.
 */
import { BigmachineError, errorFromWire, errorOf, type Link } from "../../core.ts";
import { decodeControl, type ControlMessage, type ExitMessage, type FailedMessage } from "./attach-protocol.ts";
import { CLEAN_CLOSE_CODES, tunnelCarrier } from "./tunnel-carrier.ts";
import { closedError, type TunnelClose, type TunnelSocket } from "./tunnel-socket.ts";

/** A {@link Link} over an attach tunnel, which also knows how the machine's process ended. */
export interface TunnelLink extends Link {
  /** The worker's report of the machine's exit, once it has come. */
  readonly exit: ExitMessage | undefined;
}

/** Options for {@link tunnelLink}. */
export interface TunnelLinkOptions {
  /** The machine, for error messages. */
  machineId: string;
  /** Receives every control message that arrives while frames flow (`exit`, `failed`). */
  onControl?: (message: ControlMessage) => void;
}

/** "exited with code 1", "was killed by SIGKILL". */
export function describeMachineExit(exit: Pick<ExitMessage, "code" | "signal">): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * The error for a worker's `failed` message, prefixed with `context`. Its kind is the worker's (an
 * unknown kind becomes `other`); it is temporary for `net` and `timeout` (a slow or broken path, which
 * another attempt may avoid) and fatal otherwise (a program that does not start or a protocol
 * mismatch fails the same way again).
 */
export function failureError(failed: FailedMessage, context: string): BigmachineError {
  const { kind } = errorFromWire({ kind: failed.kind });
  return errorOf(kind, `${context}: ${failed.message}`, { severity: kind === "net" || kind === "timeout" ? "temporary" : "fatal" });
}

/**
 * The error a tunnel link closes with: how the machine ended (kind `unavailable`, fatal), why the
 * worker gave up on the tunnel (its `failed` kind), or the dropped tunnel (kind `net`, temporary).
 * Undefined for a close either side made on purpose.
 */
function closeError(machineId: string, exit: ExitMessage | undefined, failed: FailedMessage | undefined, close: TunnelClose): BigmachineError | undefined {
  if (exit !== undefined) return errorOf("unavailable", `machine ${machineId} ${describeMachineExit(exit)}`, { severity: "fatal" });
  if (failed !== undefined) return failureError(failed, `the worker closed the tunnel of machine ${machineId}`);
  if (CLEAN_CLOSE_CODES.has(close.code) && close.error === undefined) return undefined;
  return closedError(close, `relaying the frames of machine ${machineId}`);
}

/**
 * Turns a tunnel whose handshake is done into a link. Frames that arrive before `onFrame` is set are
 * held; a close before `onClose` is set is reported when it is. A text message that is not a control
 * message means the two ends disagree on the protocol: the link closes with kind `invalid`.
 */
export function tunnelLink(tunnel: TunnelSocket, options: TunnelLinkOptions): TunnelLink {
  let exit: ExitMessage | undefined;
  let failed: FailedMessage | undefined;
  let protocolError: BigmachineError | undefined;
  const link = tunnelCarrier(tunnel, {
    onText: (text) => {
      let message: ControlMessage;
      try {
        message = decodeControl(text);
      } catch (err) {
        protocolError ??= err as BigmachineError;
        tunnel.close(1002, "malformed control message");
        return;
      }
      if (message.type === "exit") exit = message;
      if (message.type === "failed") failed = message;
      options.onControl?.(message);
    },
    closeError: (close) => protocolError ?? closeError(options.machineId, exit, failed, close),
  });
  return Object.defineProperty(link, "exit", { get: () => exit, enumerable: true }) as TunnelLink;
}
