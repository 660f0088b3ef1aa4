/**
 * @module
 * The test system: machines live inside the test process, each with its own supervisor, services and
 * RPC server, reached over in-memory links that run the same RPC layer as every other system. Fault
 * hooks kill machines, drop their tunnels, or delay them.
 */
import {
  createMachineEndpoint,
  errorOf,
  linkPair,
  LineLog,
  Machine,
  readHostFile,
  SECRET_HEADER,
  type HttpClient,
  type KeepaliveConfig,
  type Link,
  type Listener,
  type LogLine,
  type MachineEndpoint,
  type RpcEndpoint,
  type SessionInfo,
  type System,
} from "../../core.ts";
import { delayedLink } from "./delayed-link.ts";

/** Options for {@link TestSystem}. */
export interface TestSystemOptions {
  /** Keepalive timings; defaults are short so lost machines are noticed within a test. */
  keepalive?: Partial<KeepaliveConfig>;
  /** Processors each machine reports; default 1. */
  maxprocs?: number;
}

/** The default keepalive timings of the test system: short, for fast failure detection in tests. */
export const testSystemKeepaliveDefaults: KeepaliveConfig = { periodMs: 100, timeoutMs: 1_000, rpcTimeoutMs: 500 };

interface TestMachine {
  machine: Machine;
  endpoint: MachineEndpoint;
  log: LineLog;
  alive: boolean;
  delayMs: number;
  exit: (err: Error) => void;
}

/** A recorded system event. */
export interface TestEvent {
  type: string;
  fields: Record<string, unknown>;
}

/** A System whose machines run in the calling process, with hooks to inject faults. */
export class TestSystem implements System {
  readonly name = "testsystem";
  /** Every event recorded, oldest first. */
  readonly events: TestEvent[] = [];
  readonly #keepalive: KeepaliveConfig;
  readonly #maxprocs: number;
  readonly #machines = new Map<string, TestMachine>();
  readonly #listeners = new Map<string, RpcEndpoint>();
  #secret = "";
  #next = 0;
  #started: (() => void)[] = [];

  constructor(options: TestSystemOptions = {}) {
    this.#keepalive = { ...testSystemKeepaliveDefaults, ...options.keepalive };
    this.#maxprocs = options.maxprocs ?? 1;
  }

  async init(session: SessionInfo): Promise<void> {
    this.#secret = session.secret;
  }

  main(): Promise<never> {
    return Promise.reject(errorOf("not-supported", "test system machines run in-process; there is no machine process", { severity: "fatal" }));
  }

  httpClient(): HttpClient {
    return {
      fetch: async (addr, path, init) => {
        const endpoint = this.#endpointAt(addr);
        const headers = new Headers(init?.headers);
        headers.set(SECRET_HEADER, this.#secret);
        return endpoint.app.request(path, { ...init, headers });
      },
      connect: async (addr, options) => {
        const signal = options?.signal;
        if (signal?.aborted) throw errorOf("canceled", `connect ${addr}: canceled`, { cause: signal.reason });
        return this.#connect(addr);
      },
    };
  }

  async listenAndServe(addr: string, endpoint: RpcEndpoint): Promise<Listener> {
    const at = addr || `testsystem-listener:${++this.#next}`;
    if (this.#listeners.has(at) || this.#machines.has(at)) throw errorOf("precondition", `address ${at} is in use`, { severity: "fatal" });
    this.#listeners.set(at, endpoint);
    return { addr: at, close: async () => void this.#listeners.delete(at) };
  }

  /** Makes `n` in-process machines; rejects with kind `canceled`, making none, if `signal` has aborted. */
  async start(n: number, options: { signal?: AbortSignal } = {}): Promise<Machine[]> {
    if (options.signal?.aborted) throw errorOf("canceled", "starting test machines was canceled", { severity: "fatal", cause: options.signal.reason });
    const machines: Machine[] = [];
    for (let i = 0; i < n; i++) {
      const addr = `testsystem:${++this.#next}`;
      let exit!: (err: Error) => void;
      const exited = new Promise<Error>((resolve) => (exit = resolve));
      const log = new LineLog();
      const tm: TestMachine = { machine: undefined as unknown as Machine, endpoint: undefined as unknown as MachineEndpoint, log, alive: true, delayMs: 0, exit };
      tm.endpoint = createMachineEndpoint({
        system: this,
        secret: this.#secret,
        exit: (code) => this.#end(tm, new Error(`machine exited with code ${code}`)),
        log: (text) => log.push({ text, stream: "stdout", time: new Date() }),
        firstKeepaliveWindowMs: 3 * this.#keepalive.timeoutMs,
      });
      tm.machine = new Machine({ addr, maxprocs: this.#maxprocs, exited });
      this.#machines.set(addr, tm);
      machines.push(tm.machine);
    }
    const waiters = this.#started;
    this.#started = [];
    for (const wake of waiters) wake();
    return machines;
  }

  exit(code: number): never {
    throw errorOf("not-supported", `test system machines cannot exit the process (code ${code})`, { severity: "fatal" });
  }

  async shutdown(): Promise<void> {
    for (const tm of this.#machines.values()) this.#end(tm, new Error("test system shut down"));
  }

  maxprocs(): number {
    return this.#maxprocs;
  }

  keepaliveConfig(): KeepaliveConfig {
    return { ...this.#keepalive };
  }

  tail(machine: Machine, signal?: AbortSignal): AsyncIterable<LogLine> {
    return this.#get(machine).log.follow(signal);
  }

  read(_machine: Machine, filename: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return readHostFile(filename, signal);
  }

  event(type: string, fields: Record<string, unknown>): void {
    this.events.push({ type, fields });
  }

  keepaliveFailed(machine: Machine, err: Error): void {
    this.events.push({ type: "keepaliveFailed", fields: { machine: machine.addr, error: err.message } });
  }

  // Fault hooks and introspection.

  /** Kills a machine as if its process died: its tunnels drop and it answers nothing more. */
  kill(machine: Machine): void {
    this.#end(this.#get(machine), new Error("killed by the test system"));
  }

  /** Drops a machine's tunnels without killing it; the driver reconnects. */
  drop(machine: Machine): void {
    for (const peer of [...this.#get(machine).endpoint.server.peers]) peer.close("dropped by the test system");
  }

  /**
   * Delays every frame a machine sends by `ms`, on tunnels opened from now on (0 to stop): the machine
   * hears the driver at once but answers late, as a machine that is overloaded or far away.
   */
  delay(machine: Machine, ms: number): void {
    this.#get(machine).delayMs = ms;
  }

  /** Resolves once at least `n` machines have been started on this system. */
  async waitFor(n: number): Promise<void> {
    while (this.#machines.size < n) await new Promise<void>((resolve) => this.#started.push(resolve));
  }

  /** The number of live machines. */
  n(): number {
    return [...this.#machines.values()].filter((tm) => tm.alive).length;
  }

  /** The live machines. */
  machines(): Machine[] {
    return [...this.#machines.values()].filter((tm) => tm.alive).map((tm) => tm.machine);
  }

  /** The server side of a machine (its supervisor, services, RPC server), for assertions. */
  endpointOf(machine: Machine): MachineEndpoint {
    return this.#get(machine).endpoint;
  }

  #get(machine: Machine): TestMachine {
    const tm = this.#machines.get(machine.addr);
    if (!tm) throw errorOf("not-exist", `machine ${machine.addr} is not a machine of this test system`, { severity: "fatal" });
    return tm;
  }

  #endpointAt(addr: string): RpcEndpoint {
    const tm = this.#machines.get(addr);
    if (tm?.alive) return tm.endpoint.server;
    const listener = this.#listeners.get(addr);
    if (listener) return listener;
    throw errorOf("net", `connection refused: nothing at ${addr}`);
  }

  #connect(addr: string): Link {
    const endpoint = this.#endpointAt(addr);
    const tm = this.#machines.get(addr);
    const [client, server] = linkPair();
    endpoint.accept(tm && tm.delayMs > 0 ? delayedLink(server, tm.delayMs) : server);
    return client;
  }

  #end(tm: TestMachine, err: Error): void {
    if (!tm.alive) return;
    tm.alive = false;
    tm.endpoint.supervisor._stopWatchdog();
    tm.endpoint.server.close();
    tm.log.end();
    tm.exit(err);
  }
}
