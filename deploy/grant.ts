/**
 * @module
 * `bigmachine grant`: lets an identity invoke the worker's Cloud Run service (`roles/run.invoker`),
 * keeping every other binding of its IAM policy. By default the identity is the caller's own: the
 * account its credentials speak for, which is what a driver run with them would be.
 */
import { errorOf } from "../src/core.ts";
import { findService, grantInvoker, INVOKER_ROLE } from "../src/systems/cloudrun/service-deployer.ts";
import { memberOf } from "./clients.ts";
import { runCommand, SERVICE_FLAGS, SERVICE_FLAGS_HELP, settingsOf, whereOf, withClients, type CommandIO, type CommandSpec, type Flags } from "./command.ts";

const USAGE = `usage: bigmachine grant [flags]

Grants ${INVOKER_ROLE} on the Cloud Run service of bigmachine's worker, which every driver's identity needs,
keeping the other bindings of its IAM policy.

flags:
${SERVICE_FLAGS_HELP}  --member KIND:ID         e.g. serviceAccount:driver@P.iam.gserviceaccount.com or user:me@example.com
                           (default the account of your credentials)
  --help                   print this help
`;

const spec: CommandSpec = { name: "grant", usage: USAGE, flags: { ...SERVICE_FLAGS, member: { type: "string" } }, run: grant };

/** Runs `bigmachine grant ARGV`; resolves to the exit code. */
export function runGrantCommand(argv: string[], io?: CommandIO): Promise<number> {
  return runCommand(spec, argv, io);
}

async function grant(flags: Flags, io: CommandIO): Promise<number> {
  const settings = settingsOf(flags, io.env);
  return withClients(io, settings, async (clients) => {
    const account = typeof flags.member === "string" ? flags.member : clients.account;
    if (!account) {
      throw errorOf("precondition", `cannot tell which identity your credentials speak for: pass --member KIND:ID (e.g. user:me@example.com)`, { severity: "fatal" });
    }
    if (!(await findService(clients.services, settings.serviceName))) {
      throw errorOf("not-exist", `no service ${settings.service} in ${whereOf(settings)}: deploy it first (bigmachine deploy)`, { severity: "fatal" });
    }
    const member = memberOf(account);
    const added = await grantInvoker(clients.services, settings.serviceName, member);
    io.stdout.write(added ? `granted ${INVOKER_ROLE} on ${settings.service} to ${member}\n` : `${member} already has ${INVOKER_ROLE} on ${settings.service}\n`);
    return 0;
  });
}
