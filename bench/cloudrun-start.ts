/**
 * @module
 * Start-up measurements of the Cloud Run benchmark: `session.startMachines(n)` on the emulated Cloud Run
 * until every machine is running, with where each machine's time went; as the floor it is compared
 * with, n bare worker processes (the same bundle under plain node) until each accepts a connection;
 * and the local system's `startMachines(n)` with the same program.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { createInterface } from "node:readline";
import { LocalSystem, start } from "../src/index.ts";
import { CloudRunSystem, type CloudRunSystemOptions } from "../src/systems/cloudrun/system.ts";
import { Bench, type ProcessTimes } from "./cloudrun-services.ts";
import type { InstanceLine } from "./cloudrun-shared.ts";

/** The phases of one machine's start, in milliseconds, in the order they happen. */
export interface StartPhases {
  /** From `startMachines` until the instance that took the machine's attach was created: the driver (service check, ID token, dial) and the front end's queue. */
  toInstance: number;
  /** The instance's cold start: from its creation until its worker logged that it listens (process start, bundle load, instance id, listen). */
  coldStart: number;
  /** From the worker listening until it gave the machine process its program: the readiness probe, placement, upgrade, hello, exec, the shipped program stored and placed. */
  handshake: number;
  /** From then until the program had loaded: the bundle (and node's own start, when the worker's spare process was not used). */
  programLoad: number;
  /** From the program loaded until the worker held the machine: the machine side starts and says it can take tunnels. */
  programServe: number;
  /** From the worker holding the machine until the driver saw it running: `ready`, the link, a keepalive, installing the service. */
  toRunning: number;
}

export const PHASES: { key: keyof StartPhases; label: string }[] = [
  { key: "toInstance", label: "driver and front end until the instance is created" },
  { key: "coldStart", label: "instance cold start: worker process to listening" },
  { key: "handshake", label: "readiness probe, placement, upgrade, hello, program shipped and placed" },
  { key: "programLoad", label: "program load in the machine process" },
  { key: "programServe", label: "program ready for tunnels, worker holds it" },
  { key: "toRunning", label: "ready, link, keepalive and service install until running" },
];

/** One start(n) of the emulated Cloud Run. */
export interface CloudRunStart {
  /** startMachines(n) until the last machine was running. */
  totalMs: number;
  /** startMachines(n) until the last instance's worker listened: the part a bare worker spawn also does. */
  workersListeningMs: number;
  /** The mean of each phase over the machines. */
  phases: StartPhases;
  /** Instances the front end started for the round (n when none was started in vain). */
  instances: number;
}

/** What a start round needs from the benchmark. */
export interface CloudRunStartContext {
  /** Options of each round's System (its service, the program). */
  systemOptions: CloudRunSystemOptions;
  /** The lines instances of the service wrote since the last call. */
  lines(): Promise<InstanceLine[]>;
  /** Resolves once the service has no live instance left. */
  drained(): Promise<void>;
}

/**
 * Starts a session on a new CloudRunSystem, times `startMachines(n)` until every machine runs, reads
 * where each machine's time went, then shuts the session down and waits until its instances are gone,
 * so that every round starts from no instance at all.
 */
export async function cloudRunStart(n: number, context: CloudRunStartContext): Promise<CloudRunStart> {
  const system = new CloudRunSystem(context.systemOptions);
  const session = await start({ system });
  try {
    // Lines of earlier rounds (a failed one's among them) are not this round's.
    await context.lines();
    const wall0 = Date.now();
    const t0 = performance.now();
    const machines = await session.startMachines(n, { services: { Bench: new Bench() } });
    const runningAt = await Promise.all(machines.map((m) => m.waitFor("running").then(() => Date.now())));
    const totalMs = performance.now() - t0;
    // Everything below is read after the clock stopped.
    const times = await Promise.all(machines.map((m) => m.call<ProcessTimes>("Bench.times")));
    const lines = await context.lines();
    let lastListening = 0;
    const sums: StartPhases = { toInstance: 0, coldStart: 0, handshake: 0, programLoad: 0, programServe: 0, toRunning: 0 };
    machines.forEach((m, i) => {
      const instance = system.instanceIdOf(m);
      const of = (pattern: RegExp) => {
        const line = lines.find((l) => l.instanceId === instance && pattern.test(l.text));
        if (!line) throw new Error(`instance ${instance} of machine ${m.addr} logged no line matching ${pattern}`);
        return line.time;
      };
      const created = of(/^Starting new instance/);
      const listening = of(/serving attaches on/);
      const running = of(/running program/);
      const holding = of(/holding machine/);
      lastListening = Math.max(lastListening, listening);
      const phases: StartPhases = {
        toInstance: created - wall0,
        coldStart: listening - created,
        handshake: running - listening,
        programLoad: times[i].loadedAt - running,
        programServe: holding - times[i].loadedAt,
        toRunning: runningAt[i] - holding,
      };
      for (const key of Object.keys(sums) as (keyof StartPhases)[]) sums[key] += phases[key];
    });
    for (const key of Object.keys(sums) as (keyof StartPhases)[]) sums[key] /= n;
    const instances = lines.filter((l) => /^Starting new instance/.test(l.text)).length;
    return { totalMs, workersListeningMs: lastListening - wall0, phases: sums, instances };
  } finally {
    await session.shutdown({ drainMs: 0 });
    await context.drained();
  }
}

/**
 * `startMachines(n)` on the local system with the same program (`programFile`, under plain node), until
 * every machine runs: what starting the same machines costs without Cloud Run.
 */
export async function localStart(n: number, programFile: string): Promise<number> {
  const session = await start({ system: new LocalSystem({ program: { entry: programFile }, output: false }) });
  try {
    const t0 = performance.now();
    const machines = await session.startMachines(n, { services: { Bench: new Bench() } });
    await Promise.all(machines.map((m) => m.waitFor("running")));
    return performance.now() - t0;
  } finally {
    await session.shutdown({ drainMs: 0 });
  }
}

/** n bare workers, spawned at once. */
export interface BareSpawn {
  /** Spawn until the last worker accepted a connection. */
  totalMs: number;
  /** The mean over the workers of spawn until it accepted a connection. */
  meanMs: number;
}

/** Connects to `port` on loopback once; resolves when the connection was accepted. */
function accepted(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
}

/**
 * Spawns `n` workers (`argv`: node and the worker bundle) at once, each on a free port, and times each
 * until it accepts a connection: its stderr says where it listens and one connection is made there.
 * `env` is added to this process's environment. Stops them (SIGTERM) and waits for their exit.
 */
export async function bareSpawn(n: number, argv: string[], env: Record<string, string>): Promise<BareSpawn> {
  const [command, ...args] = argv;
  const children: ChildProcess[] = [];
  try {
    const t0 = performance.now();
    const ready = Array.from({ length: n }, () => {
      const child = spawn(command, args, {
        env: { ...process.env, ...env, PORT: "0", BIGMACHINE_DEPLOYMENT_KEY: randomBytes(32).toString("base64url") },
        stdio: ["ignore", "ignore", "pipe"],
      });
      children.push(child);
      return new Promise<number>((resolve, reject) => {
        child.once("exit", (code, signal) => reject(new Error(`a bare worker exited with ${signal ?? `code ${code}`} before it listened`)));
        const lines = createInterface({ input: child.stderr!, crlfDelay: Infinity });
        lines.on("line", (line) => {
          const port = /serving attaches on http:\/\/[^:]+:(\d+)/.exec(line)?.[1];
          if (port === undefined) return;
          lines.close();
          child.stderr!.resume();
          accepted(Number(port)).then(() => resolve(performance.now() - t0), reject);
        });
      });
    });
    const times = await Promise.all(ready);
    return { totalMs: Math.max(...times), meanMs: times.reduce((a, b) => a + b, 0) / n };
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.removeAllListeners("exit");
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
  }
}
