/**
 * @module
 * One local machine process, seen from the driver: forked with an IPC channel and piped output, it
 * reports its address once it serves; its exit (code, signal, last stderr lines) is an error the
 * machine stops with. A process that exits or stays silent past the startup timeout fails its start
 * with a clear error, and is killed if it is still there.
 *
 * The process leads a process group of its own, so what its services start can be ended with it: once
 * it has exited, whatever is left of its group gets SIGTERM and, after a grace period, SIGKILL.
 */
import { fork, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { BigmachineError, errorOf, offerSessionSecret } from "../../core.ts";
import { endProcessGroup, PROCESS_GROUPS, signalProcessGroup } from "../../util/process-group.ts";
import type { LocalProgram } from "./config.ts";
import { listeningAddr } from "./ipc.ts";
import { MachineOutput } from "./output.ts";

/** How long an exited process's output may take to drain before its exit is reported anyway. */
const OUTPUT_DRAIN_MS = 250;

/** Options for {@link MachineProcess.spawn}. */
export interface MachineProcessOptions {
  program: Required<LocalProgram>;
  /** How messages name the program (e.g. its source entry when it runs from a bundle); default its command line. */
  programName?: string;
  /** The full environment of the process (never the secret). */
  env: NodeJS.ProcessEnv;
  /** The session secret, handed over the IPC channel when the machine asks for it. */
  secret: string;
  output: NodeJS.WritableStream | false;
  outputLines: number;
  startupTimeoutMs: number;
  /** How long what is left of the process's group has between SIGTERM and SIGKILL once it has exited. */
  groupGraceMs: number;
  /** Aborting it during startup kills the process and fails the start with kind `canceled`. */
  signal?: AbortSignal;
}

/** A forked machine process and what the driver knows of it. */
export class MachineProcess {
  readonly #child: ChildProcess;
  /** The process's output, prefixed to the driver's output and kept for tail. */
  readonly output: MachineOutput;
  /** Resolves with the machine's address once it serves; rejects (kind `unavailable`, `timeout` or `canceled`) if it never does. */
  readonly ready: Promise<string>;
  /** Resolves, never rejects, once the process has exited (or could not be spawned), with why. */
  readonly exited: Promise<BigmachineError>;
  /** Resolves as soon as the exit is seen, before its last output has drained and `exited` settles. */
  readonly exitSeen: Promise<void>;
  #exitError: BigmachineError | undefined;
  #markExitSeen!: () => void;
  readonly #programName: string | undefined;

  private constructor(options: MachineProcessOptions) {
    const { program } = options;
    this.#programName = options.programName;
    this.#child = fork(program.entry, program.args, {
      execArgv: program.execArgv,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
      // The leader of a process group of its own: see the module doc.
      detached: PROCESS_GROUPS,
    });
    offerSessionSecret(this.#child, options.secret);
    this.exitSeen = new Promise<void>((resolve) => (this.#markExitSeen = resolve));
    this.output = new MachineOutput({ prefix: `pid ${this.#child.pid ?? "?"}`, sink: options.output, capacity: options.outputLines });
    if (this.#child.stdout) this.output.attach(this.#child.stdout, "stdout");
    if (this.#child.stderr) this.output.attach(this.#child.stderr, "stderr");
    this.exited = this.#watchExit(options.groupGraceMs);
    this.ready = this.#waitReady(options.startupTimeoutMs, options.signal);
    // Without a listener, a failed IPC send would crash the driver; failures surface as exits instead.
    this.#child.on("error", () => {});
  }

  /** Forks a machine process running `options.program`. */
  static spawn(options: MachineProcessOptions): MachineProcess {
    return new MachineProcess(options);
  }

  /** The process id; undefined if the process could not be spawned. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Whether the process has not exited yet (as far as the driver has been told). */
  get alive(): boolean {
    return this.#exitError === undefined && this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined;
  }

  /** Sends `signal` to the process (only) if it is alive; returns whether a signal was sent. */
  kill(signal: NodeJS.Signals = "SIGKILL"): boolean {
    if (!this.alive) return false;
    try {
      return this.#child.kill(signal);
    } catch {
      return false;
    }
  }

  /**
   * Sends `signal` to every process of the machine's group: the machine, if alive, and whatever its
   * services started. Returns whether anything got it.
   */
  killGroup(signal: NodeJS.Signals = "SIGKILL"): boolean {
    const pid = this.#child.pid;
    if (pid !== undefined && signalProcessGroup(pid, signal)) return true;
    return this.kill(signal);
  }

  /** Closes the IPC channel: the machine takes this as the driver going away and exits. */
  disconnect(): void {
    if (this.#child.connected) this.#child.disconnect();
  }

  /** Resolves once the process has exited, or after `ms`; returns whether it exited. */
  async waitExit(ms: number): Promise<boolean> {
    if (this.#exitError) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Lets the driver exit while this process still runs (its exit hook then kills it), instead of
   * being held open by the process, its channel and its pipes.
   */
  #unref(): void {
    this.#child.unref();
    this.#child.channel?.unref();
    (this.#child.stdout as Socket | null)?.unref?.();
    (this.#child.stderr as Socket | null)?.unref?.();
  }

  #watchExit(groupGraceMs: number): Promise<BigmachineError> {
    return new Promise<BigmachineError>((resolve) => {
      const settle = (err: BigmachineError) => {
        this.#markExitSeen();
        if (this.#exitError) return;
        this.#exitError = err;
        this.output.end();
        resolve(err);
      };
      this.#child.once("error", (err) => {
        // Spawning failed (no exit follows), or signalling failed on a live process (ignored).
        if (this.#child.pid === undefined) settle(errorOf("unavailable", `could not start the machine process: ${err.message}`, { severity: "fatal", cause: err }));
      });
      this.#child.once("exit", (code, signal) => {
        this.#markExitSeen();
        // Give the pipes a moment to deliver the last lines, which say why the process died.
        const drained = new Promise<void>((done) => {
          const timer = setTimeout(done, OUTPUT_DRAIN_MS);
          this.#child.once("close", () => {
            clearTimeout(timer);
            done();
          });
        });
        // Nothing the machine started outlives it.
        const groupEnded = this.#child.pid === undefined ? Promise.resolve() : endProcessGroup(this.#child.pid, groupGraceMs);
        void Promise.all([drained, groupEnded]).then(() => settle(this.#describeExit(code, signal)));
      });
    });
  }

  #describeExit(code: number | null, signal: NodeJS.Signals | null): BigmachineError {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const stderr = this.output.recentStderr();
    const tail = stderr.length > 0 ? `; last stderr lines:\n  ${stderr.join("\n  ")}` : "";
    return errorOf("unavailable", `machine process ${this.#child.pid} ${how}${tail}`, { severity: "fatal" });
  }

  #waitReady(timeoutMs: number, signal?: AbortSignal): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.#child.off("message", onMessage);
        signal?.removeEventListener("abort", onAbort);
      };
      const fail = (err: BigmachineError) => {
        cleanup();
        this.kill("SIGKILL");
        reject(err);
      };
      const onMessage = (message: unknown) => {
        const addr = listeningAddr(message);
        if (addr === undefined) return;
        cleanup();
        this.output.setPrefix(addr);
        this.#unref();
        resolve(addr);
      };
      const onAbort = () => fail(errorOf("canceled", `starting machine process ${this.#child.pid} was canceled`, { severity: "fatal", cause: signal?.reason }));
      const timer = setTimeout(() => {
        fail(errorOf("timeout", `machine process ${this.#child.pid} did not report its address within ${timeoutMs} ms; is ${this.#describeProgram()} a bigmachine program that calls start()?`, { severity: "fatal" }));
      }, timeoutMs);
      this.#child.on("message", onMessage);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
      void this.exited.then((exit) => {
        cleanup();
        reject(errorOf("unavailable", `machine failed to start: ${exit.message}`, { severity: "fatal", cause: exit }));
      });
    });
  }

  #describeProgram(): string {
    return this.#programName ?? (this.#child.spawnargs.slice(1).join(" ") || "the program");
  }
}
