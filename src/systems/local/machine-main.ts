/**
 * @module
 * The machine side of the local system: serve the machine's endpoint on loopback, tell the driver
 * where over the IPC channel, and end the process when that channel closes (the driver exited or
 * died), together with everything in its process group, since no driver is left to end it. The
 * supervisor's keepalive watchdog is the guarantee that a machine ends without its driver; the channel
 * is the fast path.
 */
import { errorOf, listen, type RpcEndpoint } from "../../core.ts";
import { killOwnProcessGroup } from "../../util/process-group.ts";
import { LOOPBACK_HOST } from "./address.ts";
import { listeningMessage } from "./ipc.ts";

/** The exit code of a machine whose driver went away. */
export const DRIVER_GONE_EXIT_CODE = 3;

/** What {@link serveLocalMachine} needs from its process; `process` in a real machine. */
export type MachineProcessHandle = Pick<NodeJS.Process, "send" | "connected" | "once">;

/**
 * Serves `endpoint` on `127.0.0.1:<free port>`, reports the address to the driver, and never
 * resolves. Rejects with kind `precondition` when the process has no IPC channel (it was not started
 * by a local driver), or with the listener's error when it cannot serve.
 */
export async function serveLocalMachine(
  endpoint: RpcEndpoint,
  proc: MachineProcessHandle = process,
  driverGone: () => void = () => killOwnProcessGroup(DRIVER_GONE_EXIT_CODE),
): Promise<never> {
  const send = proc.send?.bind(proc);
  if (!send || proc.connected === false) {
    throw errorOf("precondition", "a local machine must be started by a local driver (it has no IPC channel to report its address on)", { severity: "fatal" });
  }
  // No goodbye line: the driver that would read it is gone, and so is the pipe it would go to.
  proc.once("disconnect", driverGone);
  const listener = await listen(endpoint, { host: LOOPBACK_HOST, port: 0 });
  await new Promise<void>((resolve, reject) => {
    send(listeningMessage(listener.addr), undefined, undefined, (err: Error | null) => (err ? reject(errorOf("net", `could not report the machine's address to the driver: ${err.message}`, { cause: err, severity: "fatal" })) : resolve()));
  });
  return new Promise<never>(() => {});
}
