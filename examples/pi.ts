/**
 * @module
 * Estimates pi by Monte Carlo on a cluster of machines: each machine samples random points in the unit
 * square and counts those inside the quarter circle; the driver adds the counts up.
 *
 * ```sh
 * npm start                                   # the Cloud Run System; emulated when no project is set
 * npm start -- --machines 4 --samples 2e8
 * npm start -- --system local                 # one machine per core, local processes
 * GOOGLE_CLOUD_PROJECT=my-project npm start   # real Cloud Run (deploy the worker image first)
 * ```
 *
 * Machines run this same program: `start()` never returns in a machine, so everything after it is
 * the driver's. Module top-level code (the class and its registration) runs in every machine too.
 * Driver-only code (the emulators, the Cloud Run System's driver side) is imported with `await
 * import()` inside `main`, only when `isMachineProcess()` is false, so machines, and the program
 * shipped to them, never load it.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { isMachineProcess, registerService, start, type Machine, type Session, type System } from "../src/index.ts";

/** Points sampled between yields to the event loop, so a busy machine still answers keepalives. */
const CHUNK = 1_000_000;

/** The sampling service: stateless, one instance per machine. */
export class CirclePI {
  /** Samples `n` points uniformly in the unit square and returns how many fall inside the quarter circle. */
  async sample(n: number): Promise<number> {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`sample needs a non-negative integer, got ${n}`);
    let inside = 0;
    for (let done = 0; done < n; ) {
      const end = Math.min(n, done + CHUNK);
      for (; done < end; done++) {
        const x = Math.random();
        const y = Math.random();
        if (x * x + y * y <= 1) inside++;
      }
      if (done < n) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // Machine output: on Cloud Run it reaches the driver through Cloud Logging (see `followOutput`).
    console.log(`sampled ${n} points, ${inside} inside the quarter circle`);
    return inside;
  }
}
const PI = registerService("PI", CirclePI);

const USAGE = "usage: pi [--machines N] [--samples N] [--batches N] [--system cloudrun|local]";

interface Flags {
  machines: number | undefined;
  samples: number;
  batches: number;
  system: string;
}

function count(name: string, raw: string | undefined, fallback: number | undefined): number | undefined {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer (e.g. 4 or 1e8), got ${raw}\n${USAGE}`);
  return value;
}

function parseFlags(args: string[]): Flags {
  const { values } = parseArgs({
    args,
    options: {
      machines: { type: "string" },
      samples: { type: "string" },
      batches: { type: "string" },
      system: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    machines: count("machines", values.machines, undefined),
    // About 27 ns a sample with Math.random: the default takes some 3 s on two cores.
    samples: count("samples", values.samples, 2e8)!,
    batches: count("batches", values.batches, 4)!,
    system: values.system ?? "cloudrun",
  };
}

/** Splits `total` into `parts` near-equal whole shares. */
function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

/** Whether a Google Cloud project is configured, so the Cloud Run System would reach Google. */
function projectConfigured(): boolean {
  return ["BIGMACHINE_CLOUDRUN_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"].some((name) => Boolean(process.env[name]?.trim()));
}

/** The system to run on, and what to stop once done (the emulators, when they stand in for Google). */
async function chooseSystem(name: string): Promise<{ system: System | string; close(): Promise<void> }> {
  if (name !== "cloudrun" || projectConfigured()) return { system: name, close: async () => {} };
  console.log("pi: no Google Cloud project is configured: running the Cloud Run System against local emulators, started in this process");
  const { CloudRunSystem, startEmulatedCloudRun } = await import("../src/cloudrun.ts");
  const emulated = await startEmulatedCloudRun();
  // A quicker log poll than the default 5 s: the emulator has no read quota to save.
  return { system: new CloudRunSystem({ ...emulated.systemOptions(), logTail: { pollIntervalMs: 1_000 } }), close: () => emulated.close() };
}

/** Where a machine runs: its Cloud Run instance, when the system knows it. */
function whereIs(session: Session, m: Machine): string {
  const system = session.system as System & { instanceIdOf?: (m: Machine) => string | undefined };
  const instance = system.instanceIdOf?.(m);
  return instance ? ` on instance ${instance.length > 16 ? `${instance.slice(0, 16)}…` : instance}` : "";
}

/** Prints a Cloud Run machine's output, read back through Cloud Logging, until `signal` aborts. */
async function followOutput(m: Machine, signal: AbortSignal): Promise<void> {
  try {
    for await (const line of m.tail(signal)) if (line.text.startsWith("sampled")) console.log(`pi: [${m.addr}] ${line.text}`);
  } catch {
    // The tail ends with the session.
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  // A machine takes its System from its environment: only the driver chooses one (and starts emulators).
  const chosen = isMachineProcess() ? { system: undefined, close: async () => {} } : await chooseSystem(flags.system);
  const tails = new AbortController();
  let session: Session | undefined;
  try {
    session = await start({ system: chosen.system });
    const machineCount = flags.machines ?? (session.system.name === "local" ? os.availableParallelism() : 2);
    const began = performance.now();
    console.log(`pi: starting ${machineCount} machine(s) on ${session.system.name}`);
    const machines = await session.startMachines(machineCount, { services: { [PI.name]: new CirclePI() } });
    await Promise.all(
      machines.map(async (m) => {
        await m.waitFor("running");
        console.log(`pi: machine ${m.addr} is up${whereIs(session!, m)} (${m.maxprocs} processors)`);
        // Local machines' output already reaches this process's stderr; Cloud Run's comes through Logging.
        if (session!.system.name === "cloudrun") void followOutput(m, tails.signal);
      }),
    );

    // Every machine gets `batches` calls, so progress shows as batches finish.
    const shares = split(flags.samples, machineCount * flags.batches);
    let inside = 0;
    let sampled = 0;
    let finished = 0;
    const runBatch = async (m: Machine, n: number) => {
      const hits = await m.service(PI).sample(n);
      inside += hits;
      sampled += n;
      finished++;
      console.log(`pi: batch ${finished}/${shares.length} from ${m.addr}: ${n} samples; estimate so far ${((4 * inside) / sampled).toFixed(6)}`);
    };
    await Promise.all(
      machines.map(async (m, i) => {
        for (let b = 0; b < flags.batches; b++) await runBatch(m, shares[i * flags.batches + b]);
      }),
    );

    const estimate = (4 * inside) / sampled;
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    console.log(`pi: estimate ${estimate} from ${sampled} samples on ${machineCount} machine(s) in ${seconds} s`);
    console.log(`pi: error ${Math.abs(estimate - Math.PI).toExponential(2)} (|estimate - Math.PI|, Math.PI = ${Math.PI})`);
    if (flags.system === "cloudrun" && !projectConfigured()) {
      console.log("pi: that was emulated. On real Cloud Run: build and deploy the worker image (gcloud builds submit --config cloudbuild.yaml), set GOOGLE_CLOUD_PROJECT, and run npm start again");
    }
  } finally {
    tails.abort();
    await session?.shutdown();
    await chosen.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`pi: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
