/**
 * @module
 * CPU profiles and heap snapshots of the running machine, through `node:inspector` (no restart, no
 * flags). A CPU profile comes back as the V8 `.cpuprofile` JSON; a heap snapshot streams as chunks of
 * the `.heapsnapshot` file, since snapshots easily exceed what one message should carry.
 *
 * `node:inspector` is loaded on the first profile, not with the machine: every machine's start would
 * pay for a module few of them use.
 */
import type { Session } from "node:inspector";
import { errorOf } from "./errors.ts";

/** A connected inspector session of this process. */
async function connectedSession(): Promise<Session> {
  const { Session } = await import("node:inspector");
  const session = new Session();
  session.connect();
  return session;
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

let profiling = false;

/** Profiles the CPU for `durationMs` and returns the profile (the `.cpuprofile` JSON object). */
export async function cpuProfile(durationMs: number, signal?: AbortSignal): Promise<object> {
  if (!(durationMs > 0 && durationMs <= 10 * 60_000)) throw errorOf("invalid", "cpu profile duration must be in (0, 600000] ms");
  if (profiling) throw errorOf("precondition", "a CPU profile is already being taken", { severity: "temporary" });
  profiling = true;
  let session: Session | undefined;
  try {
    session = await connectedSession();
    await post(session, "Profiler.enable");
    await post(session, "Profiler.start");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, durationMs);
      signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
    const { profile } = await post<{ profile: object }>(session, "Profiler.stop");
    return profile;
  } finally {
    session?.disconnect();
    profiling = false;
  }
}

/** Takes a heap snapshot and yields it as UTF-8 chunks of the `.heapsnapshot` file. */
export async function* heapSnapshot(): AsyncGenerator<Uint8Array> {
  const session = await connectedSession();
  const chunks: string[] = [];
  const onChunk = (m: { params: { chunk: string } }) => chunks.push(m.params.chunk);
  session.on("HeapProfiler.addHeapSnapshotChunk", onChunk);
  try {
    // The inspector delivers every chunk before the command's callback; collect, then stream them out.
    await post(session, "HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  } finally {
    session.off("HeapProfiler.addHeapSnapshotChunk", onChunk);
    session.disconnect();
  }
  const encoder = new TextEncoder();
  for (let i = 0; i < chunks.length; i++) {
    yield encoder.encode(chunks[i]);
    chunks[i] = "";
  }
}
