/**
 * @module
 * The machine as the worker runs it: the shipped program, run as a machine of the Cloud Run System's
 * machine side (`src/systems/cloudrun/machine-system.ts`). It gets an IPC channel, on which it says
 * when it can take tunnels, takes each tunnel's connection and reports on them, and which is also its
 * lifeline (it ends itself when the worker goes). It runs in a process group of its own, so stopping
 * it also ends whatever it started. Its output goes to the worker's own stdout and stderr unchanged,
 * which Cloud Run sends to Cloud Logging.
 *
 * The process is either forked with the program ({@link MachineProcess.start}) or a *spare* booted
 * before the program is known ({@link MachineProcess.boot}) and given it later ({@link MachineProcess.run}),
 * so that node's own start is not on the path of a machine's start.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { errorOf, MACHINE_ENV, nodeOptionsWithoutDebugger, offerSessionSecret, signalProcessGroup } from "../src/core.ts";
import { DEPLOYMENT_KEY_ENV } from "../src/systems/cloudrun/attach-protocol.ts";
import { isMachineReady, machineReportOf, type MachineReport, type TunnelHandover } from "../src/systems/cloudrun/machine-ipc.ts";
import type { MachineUser } from "./machine-home.ts";

/** How the machine's process ended. */
export interface MachineExit {
  code: number | null;
  signal: string | null;
}

/** Where and as whom a machine process runs: fixed when the process starts. */
export interface MachinePlace {
  /** The worker's environment, which the machine inherits (less the worker's own settings). */
  baseEnv?: NodeJS.ProcessEnv;
  /** The machine's own folder: its working directory, HOME and TMPDIR. */
  home?: string;
  /** The user the machine runs as; default the worker's. */
  user?: MachineUser;
}

/** What a machine process runs. */
export interface MachineProgram {
  /** The program file. */
  programPath: string;
  /** `process.argv.slice(2)` of the machine. */
  args: string[];
  /** The driver's additions to the environment (keepalive timings among them). */
  env: Record<string, string>;
  /** The session secret the machine requires on every call. */
  secret: string;
}

/** Options for {@link MachineProcess.start}. */
export type MachineProcessOptions = MachinePlace & MachineProgram;

/**
 * What a spare process runs until it is given its program: it waits on the IPC channel, then sets the
 * driver's environment and arguments and loads the program, as node would have at start. Until then,
 * losing the worker ends it.
 */
const SPARE_SCRIPT = `
const onDisconnect = () => process.exit(3);
const onMessage = (message) => {
  if (message === null || typeof message !== "object" || message.type !== "bigmachine:run") return;
  process.off("message", onMessage);
  process.off("disconnect", onDisconnect);
  Object.assign(process.env, message.env);
  process.argv = [process.argv[0], message.program, ...message.args];
  import(require("node:url").pathToFileURL(message.program).href);
};
process.on("message", onMessage);
process.on("disconnect", onDisconnect);
`;

/**
 * Whether a spare process can run a program with the driver's `env`: variables that node reads as it
 * starts (`NODE_OPTIONS` and the like) would not apply in a process already started.
 */
export function spareCanRun(env: Record<string, string>): boolean {
  return !Object.keys(env).some((name) => name.startsWith("NODE_") || name.startsWith("UV_"));
}

/** Variables of the worker's environment that are the worker's business only. */
const WORKER_ONLY_ENV = [DEPLOYMENT_KEY_ENV, "PORT"];

/** The machine's environment: the worker's (less its own settings), the driver's additions, then machine mode. */
export function machineEnv(options: Pick<MachineProcessOptions, "env" | "baseEnv" | "home">): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(options.baseEnv ?? process.env) };
  for (const name of WORKER_ONLY_ENV) delete env[name];
  // No debugger port for a machine, whatever the worker was started with.
  const nodeOptions = nodeOptionsWithoutDebugger(env.NODE_OPTIONS);
  if (nodeOptions === undefined) delete env.NODE_OPTIONS;
  else env.NODE_OPTIONS = nodeOptions;
  if (options.home !== undefined) {
    env.HOME = options.home;
    env.TMPDIR = options.home;
  }
  return { ...env, ...driverEnv(options.env) };
}

/** The driver's additions, then machine mode: last, so nothing the driver sends can make the process anything but a machine of this session. */
function driverEnv(env: Record<string, string>): Record<string, string> {
  return { ...env, [MACHINE_ENV.mode]: "machine", [MACHINE_ENV.system]: "cloudrun" };
}

/** A running machine process. */
export class MachineProcess {
  readonly #child: ChildProcess;
  /** Resolves, never rejects, once the process has exited (or could not be spawned). */
  readonly exited: Promise<MachineExit>;
  #exit: MachineExit | undefined;
  /** True for a spare that has not been given its program yet. */
  #spare: boolean;

  private constructor(child: ChildProcess, spare: boolean) {
    this.#child = child;
    this.#spare = spare;
    this.exited = new Promise<MachineExit>((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        // Whatever the machine started goes with it (its group outlives it only while members remain).
        if (this.#child.pid !== undefined) signalProcessGroup(this.#child.pid, "SIGKILL");
        resolve(this.#exit);
      });
      this.#child.once("error", (err) => {
        // Spawning failed (no exit follows); a failed signal to a live process is ignored.
        if (this.#child.pid !== undefined) return;
        process.stderr.write(`bigmachine worker: could not start the machine process: ${err.message}\n`);
        this.#exit = { code: null, signal: null };
        resolve(this.#exit);
      });
    });
  }

  /** Forks the program as a machine. */
  static start(options: MachineProcessOptions): MachineProcess {
    const child = fork(options.programPath, options.args, { ...spawnOptions(options), execArgv: MACHINE_EXEC_ARGV, env: machineEnv(options) });
    const machine = new MachineProcess(child, false);
    // The secret goes over the IPC channel when the machine asks, never in its environment.
    offerSessionSecret(child, options.secret);
    return machine;
  }

  /**
   * Starts a spare: node, as the machine's user in its folder, waiting for its program, so that node's
   * own start is over when a program comes ({@link run}). Stop it when no program comes.
   */
  static boot(place: MachinePlace): MachineProcess {
    const child = spawn(process.execPath, [...MACHINE_EXEC_ARGV, "-e", SPARE_SCRIPT], { ...spawnOptions(place), env: machineEnv({ ...place, env: {} }) });
    return new MachineProcess(child, true);
  }

  /** Whether this is a spare still waiting for its program. */
  get spare(): boolean {
    return this.#spare && this.#exit === undefined;
  }

  /**
   * Gives a spare its program (which must be in the spare's folder, readable by its user). Check
   * {@link spareCanRun} for the driver's environment first.
   */
  run(program: MachineProgram): void {
    if (!this.#spare) throw errorOf("precondition", "only a spare machine process is given a program", { severity: "fatal" });
    this.#spare = false;
    offerSessionSecret(this.#child, program.secret);
    this.#child.send({ type: "bigmachine:run", program: program.programPath, args: program.args, env: driverEnv(program.env) }, (err: Error | null) => {
      // A spare that is gone cannot take it; its exit is reported as any machine's.
      if (err) this.kill("SIGKILL");
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  /** How the process ended, once it has. */
  get exit(): MachineExit | undefined {
    return this.#exit;
  }

  /**
   * Resolves once the machine can take tunnels. Rejects with kind `unavailable` if the process exits
   * first, `timeout` if it stays silent for `timeoutMs`.
   */
  ready(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#child.off("message", onMessage);
      };
      const onMessage = (message: unknown) => {
        if (!isMachineReady(message)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(errorOf("timeout", `the machine process ${this.pid} did not report that it serves within ${timeoutMs} ms; does the program call bigmachine's start()?`));
      }, timeoutMs);
      this.#child.on("message", onMessage);
      void this.exited.then((exit) => {
        done();
        reject(errorOf("unavailable", `the machine process ${describeExit(exit)} before it served; its output is in the instance's log`, { severity: "fatal" }));
      });
    });
  }

  /** Calls `handler` with each report the machine sends about its tunnels and link. */
  onReport(handler: (report: MachineReport) => void): void {
    this.#child.on("message", (message: unknown) => {
      const report = machineReportOf(message);
      if (report !== undefined) handler(report);
    });
  }

  /**
   * Hands a tunnel's connection to the machine, which serves it from then on; this process keeps no
   * copy. Rejects with kind `unavailable` when it cannot be sent (the machine is ending); the
   * connection is then closed.
   */
  handOver(handover: TunnelHandover, socket: Socket): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        socket.destroy();
        reject(errorOf("unavailable", `could not hand tunnel ${handover.tunnel} to the machine process ${this.pid}: ${err.message}`, { cause: err }));
      };
      if (this.#exit !== undefined || !this.#child.connected) return fail(new Error("it has ended"));
      try {
        // Node keeps a sent handle open here until the child acknowledges it, and goes on reading it
        // meanwhile, throwing away what it reads: the driver's first frames on the tunnel could be
        // lost. So this process stops reading before it sends. (No public call does that.)
        socket.pause();
        (socket as unknown as { _handle?: { readStop?(): number } })._handle?.readStop?.();
        this.#child.send(handover, socket, { keepOpen: false }, (err: Error | null) => (err ? fail(err) : resolve()));
      } catch (err) {
        fail(err as Error);
      }
    });
  }

  /** Sends `signal` to the machine's process group (the machine and what it started) if the machine still runs. */
  kill(signal: NodeJS.Signals): void {
    if (this.#exit !== undefined || this.#child.pid === undefined) return;
    signalProcessGroup(this.#child.pid, signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs: number): Promise<MachineExit> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/**
 * The worker may itself run under a loader (tsx in tests); the shipped program is plain ESM, with an
 * inline source map that names the driver's files in stack traces.
 */
const MACHINE_EXEC_ARGV = ["--enable-source-maps"];

/** How a machine process is spawned, whichever way. */
function spawnOptions(place: MachinePlace) {
  return {
    stdio: ["ignore", "inherit", "inherit", "ipc"] as ("ignore" | "inherit" | "ipc")[],
    serialization: "json" as const,
    // A group of its own: stopping the machine ends what its services started too.
    detached: true,
    ...(place.user ? { uid: place.user.uid, gid: place.user.gid } : {}),
    ...(place.home ? { cwd: place.home } : {}),
  };
}

/** "exited with code 1", "was killed by SIGKILL". */
export function describeExit(exit: MachineExit): string {
  if (exit.signal) return `was killed by ${exit.signal}`;
  return exit.code === null ? "could not be started" : `exited with code ${exit.code}`;
}
