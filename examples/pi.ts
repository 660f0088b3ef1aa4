/**
 * @module
 * Estimates pi by Monte Carlo on a cluster of machines: each machine samples random points in the unit
 * square and counts those inside the quarter circle; the driver adds the counts up.
 *
 * ```sh
 * npm start                                   # one machine per core, local processes
 * npm start -- --machines 4 --samples 2e8
 * npm start -- --system testsystem            # any system registered by name
 * ```
 *
 * Machines run this same program: `start()` never returns in a machine, so everything after it is
 * the driver's.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { registerService, start, type Machine } from "../src/index.ts";

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
    return inside;
  }
}
registerService("PI", CirclePI);

const USAGE = "usage: pi [--machines N] [--samples N] [--batches N] [--system NAME]";

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
    system: values.system ?? "local",
  };
}

/** Splits `total` into `parts` near-equal whole shares. */
function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const session = await start({ system: flags.system });
  const machineCount = flags.machines ?? (flags.system === "local" ? os.availableParallelism() : 2);
  try {
    const began = performance.now();
    console.log(`pi: starting ${machineCount} machine(s) on ${session.system.name}`);
    const machines = await session.startMachines(machineCount, { services: { PI: new CirclePI() } });
    await Promise.all(
      machines.map(async (m) => {
        await m.waitFor("running");
        console.log(`pi: machine ${m.addr} is up (${m.maxprocs} processors)`);
      }),
    );

    // Every machine gets `batches` calls, so progress shows as batches finish.
    const shares = split(flags.samples, machineCount * flags.batches);
    let inside = 0;
    let sampled = 0;
    let finished = 0;
    const runBatch = async (m: Machine, n: number) => {
      const hits = await m.service<CirclePI>("PI").sample(n);
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
  } finally {
    await session.shutdown();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`pi: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
