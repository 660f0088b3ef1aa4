/**
 * Helpers of the deploy tooling's tests: command surroundings that capture output and use the
 * emulators' Admin API, and a stub `gcloud` that records how it was called (gcloud never really runs).
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { v2 } from "@google-cloud/run";
import type { AdminClients } from "../../deploy/clients.ts";
import type { CommandIO, Env } from "../../deploy/command.ts";
import type { Emulators } from "../../src/emulators/index.ts";

/** A "container" for the emulators that listens on $PORT: the serving plane's own fixture. */
export const CONTAINER_FIXTURE = fileURLToPath(new URL("../../src/emulators/serving/fixtures/container.mjs", import.meta.url));

/** Command surroundings whose output is kept, for tests. */
export interface CapturedIO extends CommandIO {
  out(): string;
  err(): string;
}

/** Options of {@link capturedIO}. */
export interface CapturedIOOptions {
  env?: Env;
  clients?: CommandIO["clients"];
  stdin?: CommandIO["stdin"];
}

/** Surroundings with no credentials and no Google: clients must be given, or the emulators' used. */
export function capturedIO(options: CapturedIOOptions = {}): CapturedIO {
  let out = "";
  let err = "";
  const stdin = new PassThrough();
  stdin.end();
  return {
    env: options.env ?? {},
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    stdin: options.stdin ?? stdin,
    clients:
      options.clients ??
      (async () => {
        throw new Error("this test gave the command no clients");
      }),
    readiness: { pollIntervalMs: 20, readyTimeoutMs: 20_000 },
    out: () => out,
    err: () => err,
  };
}

/**
 * Clients on the emulators' Admin API, speaking for `account` (default the emulators' driver account;
 * null for credentials that name no account, as a user's do).
 */
export function emulatorClients(emulators: Emulators, account: string | null = emulators.serviceAccountEmail): CommandIO["clients"] {
  return async (): Promise<AdminClients> => {
    const services = new v2.ServicesClient(emulators.runClientOptions());
    return { services, account: account ?? undefined, close: () => services.close() };
  };
}

/** A stub `gcloud` first on PATH, recording each call; `run services list` answers with {@link servicesJson}. */
export interface StubGcloud {
  /** The directory holding the stub, to put first on PATH. */
  dir: string;
  /** PATH with the stub and this node first, then the system's. */
  path: string;
  /** The environment the stub reads: where to record calls, how to answer, its exit code. */
  env(options?: { exitCode?: number; servicesJson?: string }): Promise<Env>;
  /** Every call so far: its arguments and working directory. */
  calls(): Promise<{ argv: string[]; cwd: string }[]>;
  remove(): Promise<void>;
}

/** Makes a {@link StubGcloud} in a fresh temporary directory. */
export async function stubGcloud(): Promise<StubGcloud> {
  const dir = await mkdtemp(join(tmpdir(), "bigmachine-gcloud-"));
  const log = join(dir, "calls.jsonl");
  const script = `#!${process.execPath}
// A stand-in for gcloud: records its arguments, answers "run services list" from a file, exits as told.
const fs = require("node:fs");
fs.appendFileSync(process.env.STUB_GCLOUD_LOG, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() }) + "\\n");
if (process.argv.slice(2, 5).join(" ") === "run services list" && process.env.STUB_GCLOUD_SERVICES) {
  process.stdout.write(fs.readFileSync(process.env.STUB_GCLOUD_SERVICES, "utf8"));
}
process.exitCode = Number(process.env.STUB_GCLOUD_EXIT || 0);
`;
  await writeFile(join(dir, "gcloud"), script);
  await chmod(join(dir, "gcloud"), 0o755);
  const path = [dir, dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(delimiter);
  return {
    dir,
    path,
    async env(options = {}) {
      const env: Env = { PATH: path, STUB_GCLOUD_LOG: log, STUB_GCLOUD_EXIT: String(options.exitCode ?? 0), NODE_OPTIONS: process.env.NODE_OPTIONS };
      if (options.servicesJson !== undefined) {
        const file = join(dir, `services-${Math.random().toString(36).slice(2)}.json`);
        await writeFile(file, options.servicesJson);
        env.STUB_GCLOUD_SERVICES = file;
      }
      return env;
    },
    async calls() {
      const text = await readFile(log, "utf8").catch(() => "");
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { argv: string[]; cwd: string });
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
