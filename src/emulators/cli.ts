/**
 * @module
 * `bigmachine emulators`: starts every emulator, prints the environment that points clients at them
 * (as `export NAME=VALUE` lines on stdout, like gcloud's emulators), and runs until SIGINT or SIGTERM.
 */
import { parseArgs } from "node:util";
import { startEmulators, type EmulatorsOptions } from "./index.ts";

const USAGE = `usage: bigmachine emulators [flags]

Runs the Cloud Run Admin API, Cloud Logging and metadata server emulators on 127.0.0.1 until
interrupted. Prints export lines for the shell on stdout: eval "$(bigmachine emulators ... &)" or copy them.

flags:
  --project P              project id (default $GOOGLE_CLOUD_PROJECT, else bigmachine-emulated)
  --project-number N       project number (default: derived from the project id)
  --region R               region (default us-central1)
  --image IMAGE=COMMAND    run COMMAND (split on whitespace) for containers of IMAGE; repeatable
  --port-run N             Admin API port (default: any free port)
  --port-logging N         Logging API port (default: any free port)
  --port-metadata N        metadata server port (default: any free port)
  --help                   print this help
`;

/** Thrown for flags that cannot be used; the message says which. */
class UsageError extends Error {}

function parsePort(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--${flag}: not a port: ${value}`);
  return port;
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

function parseOptions(argv: string[]): EmulatorsOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        project: { type: "string" },
        "project-number": { type: "string" },
        region: { type: "string" },
        image: { type: "string", multiple: true },
        "port-run": { type: "string" },
        "port-logging": { type: "string" },
        "port-metadata": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const flags = parsed.values;
  if (flags.help) return "help";
  if (flags["project-number"] !== undefined && !/^[1-9]\d*$/.test(flags["project-number"])) {
    throw new UsageError(`--project-number: not a project number: ${flags["project-number"]}`);
  }
  return {
    projectId: flags.project,
    projectNumber: flags["project-number"],
    region: flags.region,
    images: parseImageFlags(flags.image ?? []),
    ports: {
      run: parsePort("port-run", flags["port-run"]),
      logging: parsePort("port-logging", flags["port-logging"]),
      metadata: parsePort("port-metadata", flags["port-metadata"]),
    },
  };
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

/** Runs `bigmachine emulators ARGV`; resolves to the exit code: 0 after a signal, 1 if start-up fails, 2 for bad flags. */
export async function runEmulatorsCommand(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv);
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
    for (const [name, value] of Object.entries(emulators.env())) {
      process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
    }
    const images = Object.keys(options.images ?? {});
    process.stderr.write(
      `bigmachine emulators: project ${emulators.projectId} (${emulators.projectNumber}), region ${emulators.region}; ` +
        `Admin API ${emulators.runEndpoint.url}, Logging ${emulators.loggingEndpoint.url}, ` +
        `metadata ${emulators.metadataEndpoint.url}; images: ${images.length > 0 ? images.join(", ") : "none"}. ` +
        `Stop with Ctrl-C.\n`,
    );
    const signal = await signals.signalled;
    process.stderr.write(`bigmachine emulators: ${signal}, shutting down\n`);
    await emulators.close();
    return 0;
  } finally {
    signals.stop();
  }
}
