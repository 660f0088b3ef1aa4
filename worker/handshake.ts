/**
 * @module
 * The worker's half of a fresh attach's handshake, up to the point where the program to run is on
 * disk: say hello, read `exec`, and take the shipped program when the driver sends one. Each step is
 * bounded in time, and anything out of order is a typed error the caller reports as `failed`.
 */
import { errorOf, isKind } from "../src/core.ts";
import { type ExecMessage, type HelloMessage } from "../src/systems/cloudrun/attach-protocol.ts";
import type { TunnelSocket } from "../src/systems/cloudrun/tunnel-socket.ts";

/** The programs an instance holds: a digest-checked cache of shipped programs on its file system. */
export interface ProgramCache {
  /** Digests (`sha256:<hex>`) of the programs held. */
  digests(): string[] | Promise<string[]>;
  /** Whether the program with `digest` is held. */
  has(digest: string): boolean | Promise<boolean>;
  /** Stores `code` after checking it has `digest`; resolves with its file path. Rejects on a mismatch. */
  put(code: Uint8Array, digest: string): string | Promise<string>;
  /**
   * The file path of a held program after hashing it again; rejects with kind `not-exist` when it is not
   * held or no longer matches its digest (the file is then removed).
   */
  verifiedPath(digest: string): Promise<string>;
}

/** What the driver asked for, with the program's path on this instance. */
export interface ExecRequest {
  exec: ExecMessage;
  programPath: string;
}

/** Sends `hello` and reads the driver's `exec` and, when shipped, the program; stores it in `programs`. */
export async function runHandshake(
  tunnel: TunnelSocket,
  hello: Omit<HelloMessage, "type" | "programs">,
  programs: ProgramCache,
  stepTimeoutMs: number,
): Promise<ExecRequest> {
  tunnel.sendControl({ type: "hello", ...hello, programs: await programs.digests() });
  const first = await tunnel.next({ timeoutMs: stepTimeoutMs, what: "the driver's exec message" });
  if (first.kind !== "control" || first.message.type !== "exec") {
    throw errorOf("invalid", `expected an exec message after hello, got ${first.kind === "binary" ? "a binary message" : `a ${first.message.type} message`}`, { severity: "fatal" });
  }
  const exec = first.message;
  if (!exec.shipped) {
    // Re-hashed here, just before it runs: a file changed on disk since it was stored is not run.
    try {
      return { exec, programPath: await programs.verifiedPath(exec.digest) };
    } catch (err) {
      if (!isKind(err, "not-exist")) throw err;
      throw errorOf("precondition", `this instance does not hold program ${exec.digest}; ship it`, { severity: "fatal", cause: err });
    }
  }
  const second = await tunnel.next({ timeoutMs: stepTimeoutMs, what: `program ${exec.digest}` });
  if (second.kind !== "binary") {
    throw errorOf("invalid", `expected the program ${exec.digest} as a binary message, got a ${second.message.type} message`, { severity: "fatal" });
  }
  return { exec, programPath: await programs.put(second.data, exec.digest) };
}
