/**
 * @module
 * The composition root: picks the system a program runs on and starts a session, or, in a machine
 * process, serves the machine and never returns. This is the only module that knows every system.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { errorOf } from "./errors.ts";
import { createMachineEndpoint } from "./machine-endpoint.ts";
import { Session } from "./session.ts";
import { requestSessionSecret } from "./session-secret.ts";
import { MACHINE_ENV, type System } from "./system.ts";
import { LocalSystem } from "./systems/local/index.ts";

/** Makes a system for a driver or a machine process; may load the system's modules on demand. */
export type SystemFactory = (role: "driver" | "machine") => System | Promise<System>;

const factories = new Map<string, SystemFactory>([
  ["local", () => new LocalSystem()],
  // Loaded only when chosen: the driver side brings the Google clients; machines never load them.
  [
    "cloudrun",
    async (role) =>
      role === "machine"
        ? new (await import("./systems/cloudrun/machine-system.ts")).CloudRunMachineSystem()
        : new (await import("./systems/cloudrun/system.ts")).CloudRunSystem(),
  ],
]);

/**
 * Makes a system available by name to `start({ system: name })`, to `--bigmachine-system` and to
 * `BIGMACHINE_SYSTEM`, and to machine processes started by it. Call at module top level, in a module
 * that driver and machines both load.
 */
export function registerSystem(name: string, factory: SystemFactory): void {
  if (factories.has(name)) throw errorOf("invalid", `system ${name} is already registered`, { severity: "fatal" });
  factories.set(name, factory);
}

/** Options for {@link start}. */
export interface StartOptions {
  /** The system, or its name. Default: `--bigmachine-system NAME` in `args`, then `BIGMACHINE_SYSTEM`, then `local`. */
  system?: System | string;
  /** Command-line arguments to look for `--bigmachine-system` in; default `process.argv.slice(2)`. */
  args?: string[];
  /**
   * Ask machines to send the stack trace of a failed call with its error (as the `stack` of the
   * error's cause). Default false: stacks stay in the machines' logs, since a driver may show errors
   * to its own users and a stack shows the machine's code and paths.
   */
  errorStacks?: boolean;
}

function systemFlag(args: string[]): string | undefined {
  const { values } = parseArgs({ args, options: { "bigmachine-system": { type: "string" } }, strict: false, allowPositionals: true });
  const v = values["bigmachine-system"];
  return typeof v === "string" ? v : undefined;
}

async function systemNamed(name: string, role: "driver" | "machine"): Promise<System> {
  const factory = factories.get(name);
  if (!factory) throw errorOf("not-exist", `unknown system ${name}; known: ${[...factories.keys()].join(", ")}`, { severity: "fatal" });
  return factory(role);
}

/** Whether this process was started as a machine. */
export function isMachineProcess(): boolean {
  return process.env[MACHINE_ENV.mode] === "machine";
}

/**
 * Starts a bigmachine session on the chosen system. In a machine process (started by a system) it
 * instead serves the machine (its supervisor and the services registered so far) and never returns,
 * so everything a driver does after `await start()` runs in the driver only.
 */
export async function start(options: StartOptions = {}): Promise<Session> {
  if (isMachineProcess()) return serveMachine();
  const chosen = options.system ?? systemFlag(options.args ?? process.argv.slice(2)) ?? process.env[MACHINE_ENV.system] ?? "local";
  const system = typeof chosen === "string" ? await systemNamed(chosen, "driver") : chosen;
  await system.init({ role: "driver", secret: randomBytes(32).toString("base64url") });
  return new Session(system, "driver", undefined, { errorStacks: options.errorStacks });
}

async function serveMachine(): Promise<never> {
  const name = process.env[MACHINE_ENV.system];
  if (!name) throw errorOf("invalid", `a machine process needs ${MACHINE_ENV.system}`, { severity: "fatal" });
  // Processes the services start are not machines.
  delete process.env[MACHINE_ENV.mode];
  // Over the IPC channel, never the environment: see session-secret.ts.
  const secret = await requestSessionSecret();
  const system = await systemNamed(name, "machine");
  await system.init({ role: "machine", secret });
  const { server } = createMachineEndpoint({ system, secret });
  return system.main(server);
}
