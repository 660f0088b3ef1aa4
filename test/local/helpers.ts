/**
 * Shared pieces of the local system's process-level tests: fixture paths, a local system with short
 * timings, bounded polling, and process liveness.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { LocalSystem, type BundleMode, type LocalSystemOptions } from "../../src/index.ts";
import { LOCAL_ENV } from "../../src/systems/local/index.ts";
import { SECRET_HEADER } from "../../src/system-api.ts";

/** Node flags that let a child process run TypeScript. */
export const TSX = ["--import", "tsx"];

/** The absolute path of a fixture program. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Keepalive timings short enough for a test, long enough for two busy cores. */
export const SHORT_KEEPALIVE = { periodMs: 200, timeoutMs: 3_000, rpcTimeoutMs: 1_500 };

/** Collects everything written to a stream, as text. */
export class Capture extends PassThrough {
  #text = "";

  constructor() {
    super();
    this.on("data", (chunk: Buffer) => (this.#text += chunk.toString()));
  }

  get text(): string {
    return this.#text;
  }
}

/**
 * How the local tests' machines run their fixture program: from its bundle under plain node, as a
 * driver's machines do by default, unless BIGMACHINE_LOCAL_BUNDLE says otherwise (`never` runs the
 * whole local suite from source under tsx).
 */
export const TEST_BUNDLE_MODE = (process.env[LOCAL_ENV.bundle]?.trim() || "auto") as BundleMode;

/**
 * A local system running `entry` (default the machine fixture), bundled (see {@link TEST_BUNDLE_MODE})
 * or under tsx, with short timings.
 */
export function testLocalSystem(options: LocalSystemOptions & { entry?: string } = {}): LocalSystem {
  const { entry, ...rest } = options;
  return new LocalSystem({
    program: { entry: entry ?? fixture("machine.ts"), execArgv: TSX },
    bundle: TEST_BUNDLE_MODE,
    keepalive: SHORT_KEEPALIVE,
    shutdownGraceMs: 1_000,
    output: false,
    ...rest,
  });
}

/**
 * Whether a process with this id still runs. Signal 0 checks existence; on Linux a zombie (exited, not
 * yet reaped by an init that may never reap it) counts as gone, since it runs nothing.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    // No /proc entry: gone, on Linux; elsewhere signal 0 is all we know.
    return !existsSync("/proc/self/stat");
  }
}

/** Ids of the live (non-zombie) child processes of this process, from /proc (Linux). */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === process.pid && state !== "Z") pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Ids of every live descendant of `root` (children, their children, ...), from /proc (Linux). */
export function descendantPids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const list = children.get(Number(ppid)) ?? [];
      list.push(Number(entry));
      children.set(Number(ppid), list);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** The session secret, as the system's client sends it: captured by a loopback server of our own. */
export async function sessionSecret(system: LocalSystem): Promise<string> {
  let secret = "";
  const server = createServer((req, res) => {
    secret = String(req.headers[SECRET_HEADER] ?? "");
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await (await system.httpClient().fetch(`127.0.0.1:${port}`, "/capture")).arrayBuffer();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  if (secret === "") throw new Error("the system's client sent no session secret");
  return secret;
}
