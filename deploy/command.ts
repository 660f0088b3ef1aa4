/**
 * @module
 * What the deploy commands share: their surroundings, injectable so that tests drive them in-process
 * (environment, output, input, the Google clients, how long to wait for a service), flag parsing with
 * typed usage errors, and the wrapper that turns a command's outcome into an exit code and any error
 * into one clear line.
 */
import { parseArgs } from "node:util";
import { BigmachineError, toBigmachineError } from "../src/core.ts";
import { CLOUDRUN_ENV, resolveCloudRunSettings, type CloudRunServiceSettings, type ResolvedCloudRunSettings } from "../src/systems/cloudrun/config.ts";
import type { ReadinessOptions } from "../src/systems/cloudrun/service-deployer.ts";
import { adminClients, type AdminClients } from "./clients.ts";

/** The environment a command reads, as `process.env`. */
export type Env = Record<string, string | undefined>;

/** Where a command runs: everything it touches outside itself. */
export interface CommandIO {
  env: Env;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Read by `down` to confirm; only a terminal (`isTTY`) is asked. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Makes the Google clients for `settings`; default {@link adminClients} (Application Default Credentials). */
  clients(settings: ResolvedCloudRunSettings, env: Env): Promise<AdminClients>;
  /** Bounds on waiting for a service to settle; the deployer's defaults when absent. */
  readiness?: ReadinessOptions;
}

/** The surroundings of the `bigmachine` process itself. */
export function processIO(): CommandIO {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, clients: adminClients };
}

/** The flags of one command, as `node:util` `parseArgs` takes them. */
export type FlagSpecs = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

/** One `bigmachine` subcommand. */
export interface CommandSpec {
  /** The subcommand, e.g. `deploy`. */
  name: string;
  /** The help text, printed by `--help` and after a usage error. */
  usage: string;
  flags: FlagSpecs;
  /** Runs with the parsed flags; resolves to the exit code. */
  run(flags: Flags, io: CommandIO): Promise<number>;
}

/** Parsed flag values. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** A bad flag or argument (kind `invalid`, fatal): the command prints it with its usage and exits 2. */
export class UsageError extends BigmachineError {
  constructor(message: string) {
    super(message, { kind: "invalid", severity: "fatal" });
  }
}

/** Shorthand for `new UsageError(message)`. */
export function usageError(message: string): UsageError {
  return new UsageError(message);
}

/**
 * Runs `spec` on `argv`: `--help` prints the usage (exit 0); a usage error prints itself and the usage
 * (exit 2); any other failure prints one line, `bigmachine NAME: MESSAGE` (exit 1).
 */
export async function runCommand(spec: CommandSpec, argv: string[], io: CommandIO = processIO()): Promise<number> {
  let flags: Flags;
  try {
    flags = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { ...spec.flags, help: { type: "boolean", short: "h" } } }).values;
  } catch (err) {
    io.stderr.write(`bigmachine ${spec.name}: ${(err as Error).message}\n\n${spec.usage}`);
    return 2;
  }
  if (flags.help) {
    io.stdout.write(spec.usage);
    return 0;
  }
  try {
    return await spec.run(flags, io);
  } catch (err) {
    const error = toBigmachineError(err);
    const usage = error instanceof UsageError;
    io.stderr.write(`bigmachine ${spec.name}: ${error.message}\n${usage ? `\n${spec.usage}` : ""}`);
    return usage ? 2 : 1;
  }
}

/** The flags every command that names a service takes. */
export const SERVICE_FLAGS = {
  project: { type: "string" },
  region: { type: "string" },
  service: { type: "string" },
  "impersonate-service-account": { type: "string" },
} as const satisfies FlagSpecs;

/** The flags that set the service's settings, as the Cloud Run System's options do. */
export const SETTINGS_FLAGS = {
  ...SERVICE_FLAGS,
  image: { type: "string" },
  cpu: { type: "string" },
  memory: { type: "string" },
  timeout: { type: "string" },
  "max-instances": { type: "string" },
  "service-account": { type: "string" },
  env: { type: "string", multiple: true },
} as const satisfies FlagSpecs;

/** Help lines for {@link SERVICE_FLAGS}. */
export const SERVICE_FLAGS_HELP = `  --project P              Google Cloud project (default $${CLOUDRUN_ENV.project}, then $GOOGLE_CLOUD_PROJECT)
  --region R               Cloud Run region (default $${CLOUDRUN_ENV.region}, then $CLOUD_RUN_REGION, then us-central1)
  --service S              the service's name (default $${CLOUDRUN_ENV.service}, then bigmachine)
  --impersonate-service-account EMAIL
                           act as this service account (default $${CLOUDRUN_ENV.impersonate})
`;

/** Help lines for the rest of {@link SETTINGS_FLAGS}; `maxInstancesDefault` ends the `--max-instances` line. */
export function settingsFlagsHelp(maxInstancesDefault = ""): string {
  return `  --image IMAGE            the worker image (default $${CLOUDRUN_ENV.image}, then the one cloudbuild.yaml pushes:
                           REGION-docker.pkg.dev/PROJECT/bigmachine/worker:latest)
  --cpu N                  CPUs per instance (default $${CLOUDRUN_ENV.cpu}, then 1)
  --memory M               memory per instance, e.g. 2Gi (default $${CLOUDRUN_ENV.memory}, then 512Mi)
  --timeout SECONDS        request timeout, 60 to 3600 (default $${CLOUDRUN_ENV.timeout}, then 3600)
  --max-instances N        the least instance ceiling (default $${CLOUDRUN_ENV.maxInstances}${maxInstancesDefault})
  --service-account EMAIL  the account instances run as (default $${CLOUDRUN_ENV.serviceAccount}, then the compute account)
  --env NAME=VALUE         extra worker environment; repeatable (default $${CLOUDRUN_ENV.env})
`;
}

/** The settings named by the flags, then the environment, then the defaults (`resolveCloudRunSettings`). */
export function settingsOf(flags: Flags, env: Env): ResolvedCloudRunSettings {
  const options: CloudRunServiceSettings = {
    project: text(flags.project),
    region: text(flags.region),
    service: text(flags.service),
    image: text(flags.image),
    cpu: text(flags.cpu),
    memory: text(flags.memory),
    serviceAccount: text(flags["service-account"]),
    impersonateServiceAccount: text(flags["impersonate-service-account"]),
  };
  if (typeof flags.timeout === "string") {
    const match = /^(\d+)s?$/.exec(flags.timeout.trim());
    if (!match) throw usageError(`--timeout wants a whole number of seconds (e.g. 3600), got ${JSON.stringify(flags.timeout)}`);
    options.requestTimeoutMs = Number(match[1]) * 1000;
  }
  if (typeof flags["max-instances"] === "string") {
    const n = Number(flags["max-instances"]);
    if (!Number.isInteger(n) || n < 1) throw usageError(`--max-instances wants a positive integer, got ${JSON.stringify(flags["max-instances"])}`);
    options.maxInstances = n;
  }
  if (Array.isArray(flags.env)) options.env = envPairs(flags.env);
  return resolveCloudRunSettings(options, env);
}

function text(value: Flags[string]): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function envPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq);
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw usageError(`--env wants NAME=VALUE, got ${JSON.stringify(pair)}`);
    env[name] = pair.slice(eq + 1);
  }
  return env;
}

/** `project P, region R` of the settings, for messages. */
export function whereOf(settings: ResolvedCloudRunSettings): string {
  return `project ${settings.project}, region ${settings.region}`;
}

/** Runs `body` with clients for `settings`, closing them after. */
export async function withClients<T>(io: CommandIO, settings: ResolvedCloudRunSettings, body: (clients: AdminClients) => Promise<T>): Promise<T> {
  const clients = await io.clients(settings, io.env);
  try {
    return await body(clients);
  } finally {
    await clients.close?.();
  }
}
