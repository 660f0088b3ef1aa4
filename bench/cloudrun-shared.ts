/**
 * @module
 * What the Cloud Run benchmark (`bench/cloudrun.ts`) and its emulators' process
 * (`bench/cloudrun-emulators.ts`) agree on: the echo service, and the messages of their IPC channel.
 */

/** The image of the plain HTTP echo service. */
export const ECHO_IMAGE = "bench/http-echo:1";
/** The echo service's id. */
export const ECHO_SERVICE = "bench-http-echo";

/** What the child sends once everything is up. */
export interface EmulatorsReady {
  type: "ready";
  /** The variables `bigmachine emulators` prints: the driver is configured by them alone. */
  env: Record<string, string>;
  /** The command instances of the worker image run (before the program-store wrapper): node and the bundle. */
  workerArgv: string[];
  /** The echo service's URL (the audience of its ID tokens). */
  echoUrl: string;
  /** The port of the echo service's instance, for calls that bypass the front end. */
  echoInstancePort: number;
}

/** A line an instance wrote (or Cloud Run's system log wrote about it), with when it was received. */
export interface InstanceLine {
  instanceId: string;
  /** Epoch milliseconds. */
  time: number;
  text: string;
}

export type EmulatorsRequest =
  | { id: number; op: "instances"; service: string }
  | { id: number; op: "lines"; service: string }
  | { id: number; op: "close" };

export type EmulatorsReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
