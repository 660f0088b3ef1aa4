/**
 * @module
 * The worker's settings, read from its environment: Cloud Run's `PORT`, the deployment key the
 * service was deployed with, and timings that tests shorten. A missing key or a malformed value is a
 * typed error that names the variable, so the instance fails to start with a clear message.
 */
import os from "node:os";
import path from "node:path";
import { errorOf } from "../src/core.ts";
import { DEPLOYMENT_KEY_ENV } from "../src/systems/cloudrun/attach-protocol.ts";
import type { MachineUser } from "./machine-home.ts";

/** Environment variables the worker reads, besides `PORT` and {@link DEPLOYMENT_KEY_ENV}. */
export const WORKER_ENV = {
  /** Interface to listen on. The image sets `0.0.0.0` (Cloud Run's contract); the default is loopback. */
  host: "BIGMACHINE_WORKER_HOST",
  /** Where shipped programs are kept. */
  programDir: "BIGMACHINE_WORKER_PROGRAM_DIR",
  /** How long each step of a fresh attach's handshake may take. */
  handshakeTimeoutMs: "BIGMACHINE_WORKER_HANDSHAKE_TIMEOUT_MS",
  /** How long a started program has to report that it serves. */
  machineStartupTimeoutMs: "BIGMACHINE_WORKER_STARTUP_TIMEOUT_MS",
  /** SIGTERM to SIGKILL when the worker stops the machine. */
  stopGraceMs: "BIGMACHINE_WORKER_STOP_GRACE_MS",
  /** How long a worker whose machine ended with no tunnel open keeps answering resumes (410) before it exits. */
  endedLingerMs: "BIGMACHINE_WORKER_ENDED_LINGER_MS",
  /** How long a worker that holds no machine waits for an attach before it exits. */
  idleExitMs: "BIGMACHINE_WORKER_IDLE_EXIT_MS",
  /** The user id machines run as; the worker must run as root to use it. The image sets it. */
  machineUid: "BIGMACHINE_WORKER_MACHINE_UID",
  /** The group id machines run as, with the user id. */
  machineGid: "BIGMACHINE_WORKER_MACHINE_GID",
} as const;

/** What the worker runs with. */
export interface WorkerConfig {
  port: number;
  host: string;
  deploymentKey: string;
  programDir: string;
  handshakeTimeoutMs: number;
  machineStartupTimeoutMs: number;
  stopGraceMs: number;
  endedLingerMs: number;
  idleExitMs: number;
  /** The user machines run as, when set: another one than the worker's, so the worker is out of their reach. */
  machineUser: MachineUser | undefined;
}

/** Defaults of the timings (Cloud Run gives 10 s from SIGTERM to SIGKILL; stopping the machine fits well inside). */
export const WORKER_DEFAULTS = {
  port: 8080,
  handshakeTimeoutMs: 60_000,
  machineStartupTimeoutMs: 60_000,
  stopGraceMs: 5_000,
  endedLingerMs: 10_000,
  // Long enough for a driver's attach to follow the cold start it caused, short enough that an idle
  // instance (billed while it lives, CPU being always allocated) is gone within a minute.
  idleExitMs: 30_000,
} as const;

/** The smallest deployment key accepted, in characters (deploy tooling makes 43). */
export const MIN_DEPLOYMENT_KEY_LENGTH = 32;

type Env = Record<string, string | undefined>;

function millis(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw errorOf("invalid", `${name} must be a positive whole number of milliseconds, got ${JSON.stringify(raw)}`, { severity: "fatal" });
  }
  return value;
}

/** The machine user of `env`: both ids or neither; a root worker is needed to switch to them. */
function machineUserFrom(env: Env): MachineUser | undefined {
  const uid = env[WORKER_ENV.machineUid]?.trim();
  const gid = env[WORKER_ENV.machineGid]?.trim();
  if (!uid && !gid) return undefined;
  const id = (name: string, raw: string | undefined) => {
    const value = Number(raw);
    if (!raw || !Number.isInteger(value) || value < 0) throw errorOf("invalid", `${name} must be a user or group id, got ${JSON.stringify(raw ?? "")} (set both ${WORKER_ENV.machineUid} and ${WORKER_ENV.machineGid}, or neither)`, { severity: "fatal" });
    return value;
  };
  const user = { uid: id(WORKER_ENV.machineUid, uid), gid: id(WORKER_ENV.machineGid, gid) };
  if (process.getuid?.() !== 0) {
    throw errorOf("precondition", `${WORKER_ENV.machineUid} is set, but the worker does not run as root and cannot start machines as another user`, { severity: "fatal" });
  }
  return user;
}

/**
 * Reads the worker's settings from `env`. Throws kind `precondition` without a deployment key (the
 * worker must never run a program whose driver it cannot authenticate) and kind `invalid` for
 * malformed values.
 */
export function workerConfigFrom(env: Env = process.env): WorkerConfig {
  const deploymentKey = env[DEPLOYMENT_KEY_ENV]?.trim() ?? "";
  if (deploymentKey === "") {
    throw errorOf("precondition", `${DEPLOYMENT_KEY_ENV} is not set: the worker needs the service's deployment key to check the drivers that attach (deploy the service with bigmachine's deploy tooling, which sets it)`, { severity: "fatal" });
  }
  if (deploymentKey.length < MIN_DEPLOYMENT_KEY_LENGTH) {
    throw errorOf("invalid", `${DEPLOYMENT_KEY_ENV} is too short to be a deployment key (${deploymentKey.length} characters, at least ${MIN_DEPLOYMENT_KEY_LENGTH})`, { severity: "fatal" });
  }
  const rawPort = env.PORT?.trim();
  const port = rawPort === undefined || rawPort === "" ? WORKER_DEFAULTS.port : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw errorOf("invalid", `PORT must be a port number, got ${JSON.stringify(rawPort)}`, { severity: "fatal" });
  }
  return {
    port,
    host: env[WORKER_ENV.host]?.trim() || "127.0.0.1",
    deploymentKey,
    programDir: env[WORKER_ENV.programDir]?.trim() || path.join(os.tmpdir(), "bigmachine-programs"),
    handshakeTimeoutMs: millis(env, WORKER_ENV.handshakeTimeoutMs, WORKER_DEFAULTS.handshakeTimeoutMs),
    machineStartupTimeoutMs: millis(env, WORKER_ENV.machineStartupTimeoutMs, WORKER_DEFAULTS.machineStartupTimeoutMs),
    stopGraceMs: millis(env, WORKER_ENV.stopGraceMs, WORKER_DEFAULTS.stopGraceMs),
    endedLingerMs: millis(env, WORKER_ENV.endedLingerMs, WORKER_DEFAULTS.endedLingerMs),
    idleExitMs: millis(env, WORKER_ENV.idleExitMs, WORKER_DEFAULTS.idleExitMs),
    machineUser: machineUserFrom(env),
  };
}
