/**
 * @module
 * The local system: each machine is a child process of the driver's own program on this host (by
 * default its bundle, see machine-program.ts), serving its endpoint on loopback. The driver forks them
 * with an IPC channel (for the address report and as a lifeline) and piped output (prefixed to the
 * driver's output and kept for tail), each the leader of a process group of its own, and makes sure
 * none outlives it, nor anything its services started: shutdown escalates from closing the channel to
 * SIGTERM to SIGKILL of each machine's group, a group is ended once its machine has exited, and the
 * driver's exit kills whatever is left. A machine ends its own group when it exits and when its driver
 * goes away (`src/util/process-group.ts`).
 */
import {
  ATTACH_PATH,
  connectWebSocket,
  errorOf,
  listen,
  Machine,
  MACHINE_ENV,
  offerSessionSecret,
  readHostFile,
  SECRET_HEADER,
  toBigmachineError,
  type HttpClient,
  type KeepaliveConfig,
  type Link,
  type Listener,
  type LogLine,
  type RpcEndpoint,
  type SessionInfo,
  type System,
} from "../../core.ts";
import { nodeOptionsWithoutDebugger } from "../../util/debugger-flags.ts";
import { exitWithProcessGroup, signalProcessGroup } from "../../util/process-group.ts";
import { LOOPBACK_HOST, parseLoopbackAddr } from "./address.ts";
import { MachineProcess } from "./child.ts";
import { keepaliveEnv, LOCAL_ENV, resolveLocalOptions, type LocalSystemOptions, type ResolvedLocalOptions } from "./config.ts";
import { DebugLog } from "./debug-log.ts";
import { exitAwareLink } from "./exit-aware-link.ts";
import { foreignEntryOwner } from "../../ship/foreign-entry.ts";
import { serveLocalMachine } from "./machine-main.ts";
import { prepareProgram, type RunnableProgram } from "./machine-program.ts";
import { prefixed } from "./output.ts";

/** The node flag of a machine the driver asked to debug: an inspector on a free loopback port. */
const INSPECTOR_FLAG = `--inspect=${LOOPBACK_HOST}:0`;

/** A System whose machines are child processes of the driver's program on this host. */
export class LocalSystem implements System {
  readonly name = "local";
  readonly #options: ResolvedLocalOptions;
  readonly #debug: DebugLog;
  readonly #processes = new Map<Machine, MachineProcess>();
  #secret: string | undefined;
  #client: HttpClient | undefined;
  #failedStarts = 0;
  /** Machine processes started so far: the start-order number of the next one. */
  #started = 0;
  #exitHook: (() => void) | undefined;
  /** Why the driver's own entry script cannot be its machines' program (a tool's script), if it cannot. */
  readonly #foreignEntry: string | undefined;
  /** The program machines run, made ready once (bundled or not). */
  #program: Promise<RunnableProgram> | undefined;

  /** Throws kind `invalid` for bad options (or bad `BIGMACHINE_*` environment values). */
  constructor(options: LocalSystemOptions = {}) {
    this.#options = resolveLocalOptions(options);
    this.#debug = new DebugLog({ ...this.#options.debug, stream: this.#options.output });
    const own = options.program === undefined && !process.env[LOCAL_ENV.program]?.trim() ? this.#options.program?.source.entry : undefined;
    const owner = own === undefined ? undefined : foreignEntryOwner(own);
    this.#foreignEntry = owner === undefined ? undefined : foreignEntryMessage(own!, owner);
  }

  /**
   * Takes the session secret. Idempotent; a second session with another secret is refused. A driver's
   * system starts making its machines' program ready here (bundling it, or finding its bundle), so
   * that work overlaps whatever the driver does before it starts machines.
   */
  async init(session: SessionInfo): Promise<void> {
    if (this.#secret !== undefined && this.#secret !== session.secret) {
      throw errorOf("precondition", "this local system already belongs to another session", { severity: "fatal" });
    }
    this.#secret = session.secret;
    // Errors surface when machines are started.
    if (session.role === "driver") this.machineProgram().catch(() => {});
  }

  /**
   * The program machines run, made ready once: the program as given, or its bundle (see the `bundle`
   * option). Rejects with kind `invalid` when there is no program (no `program` and no entry script),
   * and with the bundler's error when the program must be bundled (`always`) and cannot be.
   */
  machineProgram(): Promise<RunnableProgram> {
    return (this.#program ??= this.#prepareProgram());
  }

  async #prepareProgram(): Promise<RunnableProgram> {
    const choice = this.#options.program;
    if (!choice) {
      throw errorOf("invalid", "the local system needs a program for its machines: this process has no entry script, so pass `program` in the options", { severity: "fatal" });
    }
    const started = performance.now();
    const program = await prepareProgram(choice, { cacheDir: this.#options.cacheDir, notice: (line) => this.#notice(line) });
    this.event("local:program", { entry: program.entry, source: program.source, bundled: program.bundled, reused: program.reused, ms: Math.round(performance.now() - started) });
    return program;
  }

  /** Writes one line of the system's own to the output. */
  #notice(line: string): void {
    const output = this.#options.output;
    if (output) output.write(`${line}\n`);
  }

  /** Serves `endpoint` on loopback, reports the address to the driver, and never resolves. */
  main(endpoint: RpcEndpoint): Promise<never> {
    return serveLocalMachine(endpoint);
  }

  /** Reaches machines at `127.0.0.1:PORT` with the session secret on every request and tunnel. */
  httpClient(): HttpClient {
    return (this.#client ??= {
      fetch: (addr, path, init) => this.#fetch(addr, path, init),
      connect: (addr, options) => this.#connect(addr, options?.signal),
    });
  }

  /** Serves `endpoint` on `addr` (`127.0.0.1:PORT`), or on a free loopback port when `addr` is empty. */
  async listenAndServe(addr: string, endpoint: RpcEndpoint): Promise<Listener> {
    const port = addr === "" ? 0 : parseLoopbackAddr(addr).port;
    const listener = await listen(endpoint, { host: LOOPBACK_HOST, port });
    return { addr: listener.addr, close: async () => void (await listener.close()) };
  }

  /**
   * Forks `n` machine processes and waits for each to report its address. A process that exits or
   * stays silent past the startup timeout still yields a machine, stopped at once with the reason
   * (its exit code or signal and its last stderr lines, or the timeout). Rejects with kind `canceled`
   * if `signal` aborts (the processes are killed), `precondition` before `init`, `invalid` without a
   * program to run or when the driver's entry script is a test runner's or another tool's (see
   * `foreign-entry.ts`), and with the bundler's error when the program must be bundled and cannot be
   * (see {@link machineProgram}).
   */
  async start(n: number, options: { signal?: AbortSignal } = {}): Promise<Machine[]> {
    const secret = this.#requireSecret();
    if (this.#foreignEntry) throw errorOf("invalid", this.#foreignEntry, { severity: "fatal" });
    const program = await this.machineProgram();
    if (options.signal?.aborted) throw errorOf("canceled", "starting local machines was canceled", { severity: "fatal", cause: options.signal.reason });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...keepaliveEnv(this.#options.keepalive),
      [MACHINE_ENV.mode]: "machine",
      [MACHINE_ENV.system]: this.name,
    };
    // A driver run with an inspector must not hand one to every machine (see config.ts).
    const nodeOptions = nodeOptionsWithoutDebugger(env.NODE_OPTIONS);
    if (nodeOptions === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = nodeOptions;
    this.#installExitHook();
    const spawned = Array.from({ length: n }, () => {
      const ordinal = this.#started++;
      const inspect = this.#options.inspect === "all" || this.#options.inspect.includes(ordinal);
      const proc = MachineProcess.spawn({
        program: { entry: program.entry, args: program.args, execArgv: inspect ? [...program.execArgv, INSPECTOR_FLAG] : program.execArgv },
        programName: program.bundled ? `${program.source} (bundled as ${program.entry})` : undefined,
        env,
        output: this.#options.output,
        outputLines: this.#options.outputLines,
        startupTimeoutMs: this.#options.startupTimeoutMs,
        groupGraceMs: this.#options.shutdownGraceMs,
        signal: options.signal,
        secret,
      });
      if (inspect) {
        proc.output.note(`bigmachine: machine #${ordinal} starts with an inspector on ${LOOPBACK_HOST}, as ${LOCAL_ENV.inspect} or the inspect option asked; any local user can connect to it and run code in it`);
        this.event("local:inspector", { ordinal, pid: proc.pid });
      }
      return proc;
    });
    const machines = await Promise.all(spawned.map((proc) => this.#machineOf(proc)));
    if (options.signal?.aborted) throw errorOf("canceled", "starting local machines was canceled", { severity: "fatal", cause: options.signal.reason });
    return machines;
  }

  /** Ends this machine process with `code`, after SIGTERM to what its services started (its process group). */
  exit(code: number): never {
    exitWithProcessGroup(code);
  }

  /**
   * Ends every machine process still alive: closes its IPC channel (the machine exits), waits the
   * grace period, sends SIGTERM to its process group, waits again, then SIGKILL. Idempotent.
   */
  async shutdown(): Promise<void> {
    const grace = this.#options.shutdownGraceMs;
    const alive = () => [...this.#processes.values()].filter((proc) => proc.alive);
    for (const proc of alive()) proc.disconnect();
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const left = alive();
      if (left.length === 0) break;
      await Promise.all(left.map((proc) => proc.waitExit(grace)));
      for (const proc of alive()) {
        this.event("local:kill", { pid: proc.pid, signal });
        proc.killGroup(signal);
      }
    }
    await Promise.all(alive().map((proc) => proc.waitExit(grace)));
    // Each exit ends what is left of that machine's group; wait for that too.
    await Promise.all([...this.#processes.values()].map((proc) => proc.waitExit(2 * grace)));
    for (const proc of this.#processes.values()) proc.output.end();
    this.#removeExitHook();
  }

  maxprocs(): number {
    return this.#options.maxprocs;
  }

  keepaliveConfig(): KeepaliveConfig {
    return { ...this.#options.keepalive };
  }

  /** Yields the machine's kept output lines, then follows new ones until `signal` aborts or the process's output ends. */
  async *tail(machine: Machine, signal?: AbortSignal): AsyncIterable<LogLine> {
    yield* this.#processOf(machine).output.log.follow(signal);
  }

  /** Streams a file of this host (every local machine's host). Missing files fail with kind `not-exist`. */
  read(_machine: Machine, filename: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return readHostFile(filename, signal);
  }

  /** Records an event in the debug log when `BIGMACHINE_DEBUG` is set; drops it otherwise. */
  event(type: string, fields: Record<string, unknown>): void {
    this.#debug.record(type, fields);
  }

  /** Writes one line about the lost machine to the output. */
  keepaliveFailed(machine: Machine, err: Error): void {
    this.event("local:keepaliveFailed", { machine: machine.addr, error: err.message });
    const output = this.#options.output;
    if (output) output.write(prefixed(machine.addr, `bigmachine: keepalives failed; stopping the machine: ${err.message}`));
  }

  // For tests and tools.

  /** The process id of a machine this system started; undefined if its process never started. */
  pidOf(machine: Machine): number | undefined {
    return this.#processOf(machine).pid;
  }

  /** Sends `signal` (default SIGKILL) to a machine's process; returns whether it was sent. */
  kill(machine: Machine, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.#processOf(machine).kill(signal);
  }

  async #machineOf(proc: MachineProcess): Promise<Machine> {
    let machine: Machine;
    try {
      const addr = await proc.ready;
      machine = new Machine({ addr, maxprocs: this.#options.maxprocs, exited: proc.exited });
      this.event("local:machineProcess", { machine: addr, pid: proc.pid });
    } catch (err) {
      // An address no one serves: the machine stops at once, with why, and is never dialed.
      const addr = `local:failed-${++this.#failedStarts}`;
      const reason = toBigmachineError(err);
      machine = new Machine({ addr, maxprocs: this.#options.maxprocs, exited: Promise.resolve(reason) });
      proc.output.setPrefix(addr);
      proc.output.note(`bigmachine: ${reason.message}`);
      this.event("local:startFailed", { machine: addr, pid: proc.pid, error: reason.message });
    }
    this.#processes.set(machine, proc);
    return machine;
  }

  #processOf(machine: Machine): MachineProcess {
    const proc = this.#processes.get(machine) ?? [...this.#processes].find(([m]) => m.addr === machine.addr)?.[1];
    if (!proc) throw errorOf("not-exist", `machine ${machine.addr} was not started by this local system`, { severity: "fatal" });
    return proc;
  }

  #requireSecret(): string {
    if (this.#secret === undefined) throw errorOf("precondition", "the local system was not initialized by a session", { severity: "fatal" });
    return this.#secret;
  }

  async #fetch(addr: string, path: string, init?: RequestInit): Promise<Response> {
    const { port } = parseLoopbackAddr(addr);
    if (!path.startsWith("/")) throw errorOf("invalid", `request path ${JSON.stringify(path)} must start with /`, { severity: "fatal" });
    const headers = new Headers(init?.headers);
    headers.set(SECRET_HEADER, this.#requireSecret());
    try {
      return await fetch(`http://${LOOPBACK_HOST}:${port}${path}`, { ...init, headers });
    } catch (err) {
      if (init?.signal?.aborted) throw errorOf("canceled", `request to ${addr}${path} was canceled`, { cause: err });
      throw errorOf("net", `request to ${addr}${path} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async #connect(addr: string, signal?: AbortSignal): Promise<Link> {
    const { port } = parseLoopbackAddr(addr);
    const link = await connectWebSocket(`ws://${LOOPBACK_HOST}:${port}${ATTACH_PATH}`, { headers: { [SECRET_HEADER]: this.#requireSecret() }, signal });
    const proc = [...this.#processes].find(([m, p]) => m.addr === addr && p.alive)?.[1];
    return proc ? exitAwareLink(link, proc) : link;
  }

  #installExitHook(): void {
    if (this.#exitHook) return;
    // Best effort when the driver exits without shutting down: nothing may outlive it.
    this.#exitHook = () => {
      for (const proc of this.#processes.values()) {
        proc.kill("SIGKILL");
        if (proc.pid !== undefined) signalProcessGroup(proc.pid, "SIGKILL");
      }
    };
    process.on("exit", this.#exitHook);
  }

  #removeExitHook(): void {
    if (!this.#exitHook) return;
    process.off("exit", this.#exitHook);
    this.#exitHook = undefined;
  }
}

/** The message for a driver whose entry script belongs to `owner`, naming the `program` option. */
function foreignEntryMessage(entry: string, owner: string): string {
  return (
    `local machines run the driver's own program, and this process's entry script (${entry}) belongs to ${owner}, ` +
    `a test runner or another tool, not to a bigmachine program: each machine would run ${owner} again. ` +
    `Name the program machines run: new LocalSystem({ program: { entry: "path/to/program.js" } }) ` +
    `(with execArgv: ["--import", "tsx"] for a TypeScript program), or set BIGMACHINE_LOCAL_PROGRAM`
  );
}
