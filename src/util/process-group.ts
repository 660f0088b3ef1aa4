/**
 * @module
 * Process groups, so that nothing a machine starts outlives it. A machine process is started as the
 * leader of a group of its own (`fork(..., { detached: true })`: a new session and group whose id is
 * the machine's pid). Every process its services start joins that group unless it leaves on purpose,
 * so signalling the group reaches them all, however deep.
 *
 * Who ends the group:
 * - the parent (the local driver, or the Cloud Run worker) when the machine's process has exited,
 *   with {@link signalProcessGroup} (SIGKILL to what is left), and when it stops a machine, with
 *   {@link endProcessGroup} (SIGTERM, a grace period, then SIGKILL);
 * - the machine itself when it exits on its own (shutdown, watchdog), with
 *   {@link exitWithProcessGroup} (SIGTERM to the rest of its group, then exit with its code), and
 *   when its parent is gone (the IPC channel closed), with {@link killOwnProcessGroup} (SIGKILL to the
 *   whole group, itself included: no one is left to read an exit code).
 *
 * Windows has no process groups; there these do nothing but exit.
 */

/** Whether this platform has POSIX process groups. */
export const PROCESS_GROUPS = process.platform !== "win32";

/** How often {@link endProcessGroup} looks whether the group has emptied. */
const POLL_MS = 20;

/**
 * Sends `signal` (0 only checks) to every process of the group led, or once led, by `pgid`. Returns
 * whether the group exists (some process got the signal); false when it is empty, on platforms without
 * groups, and for ids that are not a real group's (anything below 2: -1, 0 and 1 would signal every
 * process, this process's own group, or init's).
 */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (!PROCESS_GROUPS || !Number.isSafeInteger(pgid) || pgid < 2) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: the group is empty. EPERM: its processes are not ours to signal.
    return false;
  }
}

/**
 * Ends the group `pgid`: SIGTERM, up to `graceMs` for it to empty, then SIGKILL to what is left.
 * Resolves once the group is empty or has been sent SIGKILL; never rejects.
 */
export async function endProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalProcessGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (!signalProcessGroup(pgid, 0)) return;
  }
  signalProcessGroup(pgid, "SIGKILL");
}

/**
 * Exits this process with `code` after sending SIGTERM to the rest of the group it leads (when it
 * leads one), ignoring the SIGTERM that reaches itself. Whatever ignores SIGTERM is left to the
 * parent, which ends the group once it sees this process exit.
 */
export function exitWithProcessGroup(code: number): never {
  if (signalProcessGroup(process.pid, 0)) {
    process.on("SIGTERM", () => {});
    signalProcessGroup(process.pid, "SIGTERM");
  }
  process.exit(code);
}

/**
 * Ends this process and every process of the group it leads at once, with SIGKILL: for a machine whose
 * parent is gone, so that no one would end the group after it. Exits with `code` instead when this
 * process leads no group.
 */
export function killOwnProcessGroup(code: number): never {
  signalProcessGroup(process.pid, "SIGKILL");
  process.exit(code);
}
