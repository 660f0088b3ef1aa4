/**
 * @module
 * `bigmachine emulators`: starts every emulator, prints the environment that points clients at them
 * (as `export NAME=VALUE` lines on stdout, like gcloud's emulators), and runs until SIGINT or SIGTERM.
 * Flags are applied over options a caller passes in (the product's command passes its worker image
 * resolver that way).
 */
import { parseArgs } from "node:util";
import { CHAOS_DEFAULTS, type ChaosOptions } from "./chaos.ts";
import { IAM_PROPAGATION_DEFAULT_MS } from "./run-admin/index.ts";
import { SERVING_DEFAULTS, type ImageMapping } from "./serving/index.ts";
import { startEmulators, type Emulators, type EmulatorsOptions } from "./index.ts";

const USAGE = `usage: bigmachine emulators [flags]

Runs the Cloud Run Admin API, Cloud Logging and metadata server emulators on 127.0.0.1 until
interrupted. Prints export lines for the shell on stdout: eval "$(bigmachine emulators ... &)" or copy them.

flags:
  --project P                  project id (default $GOOGLE_CLOUD_PROJECT, else bigmachine-emulated)
  --project-number N           project number (default: derived from the project id)
  --region R                   region (default us-central1)
  --image IMAGE=COMMAND        run COMMAND (split on whitespace) for containers of IMAGE; repeatable
  --image-env IMAGE=NAME=VALUE the image's own environment (its ENV lines); repeatable
  --port-run N                 Admin API port (default: any free port)
  --port-logging N             Logging API port (default: any free port)
  --port-metadata N            metadata server port (default: any free port)
  --iam-propagation-ms N       delay before an IAM policy change applies (default ${IAM_PROPAGATION_DEFAULT_MS}, as Google)
  --driver-not-project-invoker the driver invokes a service only through a service-level grant
  --driver-credentials KIND    metadata (default) or user: only user credentials, no ID tokens
  --slot-hold-ms N             how long a departed client's request keeps its slot (default ${SERVING_DEFAULTS.slotHoldMs})
  --memory-limits              kill instances that outgrow their memory limit (files count)
  --chaos SEED                 random faults from SEED: idle reclaims, WebSocket drops, slow cold starts
  --chaos-reclaims-per-minute N  reclaims of each idle instance per minute (default ${CHAOS_DEFAULTS.idleReclaimsPerMinute})
  --chaos-drops-per-minute N   drops of each open WebSocket per minute (default ${CHAOS_DEFAULTS.webSocketDropsPerMinute})
  --chaos-cold-start-max-ms N  extra delay of each cold start, up to (default ${CHAOS_DEFAULTS.coldStartMaxDelayMs})
  --help                       print this help
`;

/** Thrown for flags that cannot be used; the message says which. */
export class UsageError extends Error {}

function parsePort(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--${flag}: not a port: ${value}`);
  return port;
}

function parseAmount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const amount = Number(value);
  if (value.trim() === "" || !Number.isFinite(amount) || amount < 0) throw new UsageError(`--${flag}: not a number at least 0: ${value}`);
  return amount;
}

/** `IMAGE=COMMAND` pairs to an image map; COMMAND is split into argv on runs of whitespace. */
export function parseImageFlags(values: string[]): Record<string, string[]> {
  const images: Record<string, string[]> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    const image = value.slice(0, eq).trim();
    const argv = value.slice(eq + 1).split(/\s+/).filter((word) => word !== "");
    if (eq <= 0 || image === "" || argv.length === 0) {
      throw new UsageError(`--image wants IMAGE=COMMAND, got ${JSON.stringify(value)}`);
    }
    images[image] = argv;
  }
  return images;
}

/** `IMAGE=NAME=VALUE` triples to each image's environment (image references hold no `=`). */
export function parseImageEnvFlags(values: string[]): Record<string, Record<string, string>> {
  const envs: Record<string, Record<string, string>> = {};
  for (const value of values) {
    const first = value.indexOf("=");
    const second = value.indexOf("=", first + 1);
    const image = value.slice(0, first).trim();
    const name = value.slice(first + 1, second);
    if (first <= 0 || image === "" || second < 0 || name === "" || /\s/.test(name)) {
      throw new UsageError(`--image-env wants IMAGE=NAME=VALUE, got ${JSON.stringify(value)}`);
    }
    (envs[image] ??= {})[name] = value.slice(second + 1);
  }
  return envs;
}

/** A mapping with `env` added to the image's own environment. */
function withImageEnv(image: string, mapping: ImageMapping, env: Record<string, string> | undefined): ImageMapping {
  if (!env) return mapping;
  const command = Array.isArray(mapping) ? mapping : mapping.command;
  const own = Array.isArray(mapping) ? {} : (mapping.env ?? {});
  if (!Array.isArray(command)) throw new UsageError(`image ${image} has no command`);
  return { command, env: { ...own, ...env } };
}

const FLAGS = {
  project: { type: "string" },
  "project-number": { type: "string" },
  region: { type: "string" },
  image: { type: "string", multiple: true },
  "image-env": { type: "string", multiple: true },
  "port-run": { type: "string" },
  "port-logging": { type: "string" },
  "port-metadata": { type: "string" },
  "iam-propagation-ms": { type: "string" },
  "driver-not-project-invoker": { type: "boolean" },
  "driver-credentials": { type: "string" },
  "slot-hold-ms": { type: "string" },
  "memory-limits": { type: "boolean" },
  chaos: { type: "string" },
  "chaos-reclaims-per-minute": { type: "string" },
  "chaos-drops-per-minute": { type: "string" },
  "chaos-cold-start-max-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Copies `source` without its undefined fields, so they do not hide what they are spread over. */
function defined<T extends object>(source: T): Partial<T> {
  return Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * The options `argv` asks for, applied over `base`: a flag wins over the same setting in `base`, and
 * everything `base` sets that no flag touches is kept (its `resolveImage`, say). Throws
 * {@link UsageError} for flags that cannot be used.
 */
export function emulatorOptionsFrom(argv: string[], base: EmulatorsOptions = {}): EmulatorsOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: false, options: FLAGS });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const flags = parsed.values;
  if (flags.help) return "help";
  if (flags["project-number"] !== undefined && !/^[1-9]\d*$/.test(flags["project-number"])) {
    throw new UsageError(`--project-number: not a project number: ${flags["project-number"]}`);
  }
  const credentials = flags["driver-credentials"];
  if (credentials !== undefined && credentials !== "metadata" && credentials !== "user") {
    throw new UsageError(`--driver-credentials wants metadata or user, got ${JSON.stringify(credentials)}`);
  }

  const imageEnvs = parseImageEnvFlags(flags["image-env"] ?? []);
  const images: Record<string, ImageMapping> = { ...base.images, ...parseImageFlags(flags.image ?? []) };
  for (const [image, mapping] of Object.entries(images)) images[image] = withImageEnv(image, mapping, imageEnvs[image]);
  const baseResolve = base.resolveImage;
  const resolveImage =
    baseResolve && Object.keys(imageEnvs).length > 0
      ? (image: string) => {
          const mapping = baseResolve(image);
          return mapping && withImageEnv(image, mapping, imageEnvs[image]);
        }
      : baseResolve;
  const unmapped = Object.keys(imageEnvs).filter((image) => !images[image]);
  if (unmapped.length > 0 && !resolveImage) {
    throw new UsageError(`--image-env names ${unmapped.join(", ")}, which no --image maps`);
  }

  return {
    ...base,
    projectId: flags.project ?? base.projectId,
    projectNumber: flags["project-number"] ?? base.projectNumber,
    region: flags.region ?? base.region,
    images,
    ...(resolveImage ? { resolveImage } : {}),
    ports: {
      ...base.ports,
      ...defined({
        run: parsePort("port-run", flags["port-run"]),
        logging: parsePort("port-logging", flags["port-logging"]),
        metadata: parsePort("port-metadata", flags["port-metadata"]),
      }),
    },
    driverCredentials: (credentials as "metadata" | "user" | undefined) ?? base.driverCredentials,
    iam: {
      ...base.iam,
      ...defined({
        propagationDelayMs: parseAmount("iam-propagation-ms", flags["iam-propagation-ms"]),
        driverIsProjectInvoker: flags["driver-not-project-invoker"] ? false : undefined,
      }),
    },
    serving: {
      ...base.serving,
      ...defined({
        slotHoldMs: parseAmount("slot-hold-ms", flags["slot-hold-ms"]),
        enforceMemoryLimits: flags["memory-limits"] ? true : undefined,
      }),
    },
    chaos: chaosFrom(flags) ?? base.chaos,
  };
}

/** The chaos flags as options; rates without `--chaos SEED` are a usage error. */
function chaosFrom(flags: Record<string, string | boolean | string[] | undefined>): ChaosOptions | undefined {
  const rates = defined({
    idleReclaimsPerMinute: parseAmount("chaos-reclaims-per-minute", flags["chaos-reclaims-per-minute"] as string | undefined),
    webSocketDropsPerMinute: parseAmount("chaos-drops-per-minute", flags["chaos-drops-per-minute"] as string | undefined),
    coldStartMaxDelayMs: parseAmount("chaos-cold-start-max-ms", flags["chaos-cold-start-max-ms"] as string | undefined),
  });
  const seed = flags.chaos as string | undefined;
  if (seed === undefined) {
    if (Object.keys(rates).length > 0) throw new UsageError("the --chaos-* rates need --chaos SEED");
    return undefined;
  }
  if (seed.trim() === "") throw new UsageError("--chaos wants a seed");
  return { seed, ...rates };
}

/** Quotes a value for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Resolves on the first SIGINT or SIGTERM; `stop()` removes the handlers, restoring Node's default. */
function watchSignals(): { signalled: Promise<NodeJS.Signals>; stop(): void } {
  let onSignal!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signalled,
    stop() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** The human lines on stderr: where everything listens, the settings that make it unkind, and any chaos. */
function describeRun(emulators: Emulators, options: EmulatorsOptions): string {
  const images = Object.keys(options.images ?? {});
  const lines = [
    `project ${emulators.projectId} (${emulators.projectNumber}), region ${emulators.region}; ` +
      `Admin API ${emulators.runEndpoint.url}, Logging ${emulators.loggingEndpoint.url}, ` +
      `metadata ${emulators.metadataEndpoint.url}; images: ${images.length > 0 ? images.join(", ") : "none"}` +
      `${options.resolveImage ? " (and those the resolver maps)" : ""}.`,
    `IAM changes apply after ${emulators.admin.iamPropagationDelayMs} ms; ` +
      `the driver ${options.iam?.driverIsProjectInvoker === false ? "needs a service-level grant" : "invokes every service"}; ` +
      `a departed client's slot is held ${options.serving?.slotHoldMs ?? SERVING_DEFAULTS.slotHoldMs} ms; ` +
      `driver credentials: ${options.driverCredentials ?? "metadata"}.`,
  ];
  if (emulators.chaos) lines.push(`${emulators.chaos.describe()}.`);
  lines.push("Stop with Ctrl-C.");
  return lines.map((line) => `bigmachine emulators: ${line}\n`).join("");
}

/**
 * Runs `bigmachine emulators ARGV` with the flags applied over `base`; resolves to the exit code: 0
 * after a signal, 1 if start-up fails, 2 for bad flags.
 */
export async function runEmulatorsCommand(argv: string[], base?: EmulatorsOptions): Promise<number> {
  let options;
  try {
    options = emulatorOptionsFrom(argv, base);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bigmachine emulators: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  // Listen before starting, so a signal during start-up still shuts everything down.
  const signals = watchSignals();
  try {
    let emulators;
    try {
      emulators = await startEmulators(options);
    } catch (err) {
      process.stderr.write(`bigmachine emulators: cannot start: ${(err as Error).message}\n`);
      return 1;
    }
    const env = emulators.env();
    // A driver with user credentials must not find a metadata server from an earlier eval.
    if (!("GCE_METADATA_HOST" in env)) process.stdout.write("unset GCE_METADATA_HOST\n");
    for (const [name, value] of Object.entries(env)) {
      process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
    }
    process.stderr.write(describeRun(emulators, options));
    const signal = await signals.signalled;
    process.stderr.write(`bigmachine emulators: ${signal}, shutting down\n`);
    await emulators.close();
    return 0;
  } finally {
    signals.stop();
  }
}
