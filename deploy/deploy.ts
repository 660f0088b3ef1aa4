/**
 * @module
 * `bigmachine deploy`: creates or updates the worker's Cloud Run service through the Admin API with
 * the settings the Cloud Run System would use (the same flags, `BIGMACHINE_CLOUDRUN_*` variables and
 * defaults), labelled as bigmachine's, waits until it is ready, and lets the driver's identity (or
 * `--member`) invoke it. Running it again changes nothing unless a setting changed.
 */
import { errorOf } from "../src/core.ts";
import { serviceOptionsOf } from "../src/systems/cloudrun/config.ts";
import { ensureService, findService, grantInvoker, INVOKER_ROLE } from "../src/systems/cloudrun/service-deployer.ts";
import { gcloudArguments } from "../src/systems/cloudrun/service-settings.ts";
import { DEFAULT_DEPLOY_MAX_INSTANCES } from "./cloudbuild-config.ts";
import { memberOf } from "./clients.ts";
import { runCommand, SERVICE_FLAGS_HELP, settingsOf, SETTINGS_FLAGS, settingsFlagsHelp, whereOf, withClients, type CommandIO, type CommandSpec, type Flags } from "./command.ts";

const USAGE = `usage: bigmachine deploy [flags]

Creates or updates the Cloud Run service of bigmachine's worker with the settings the Cloud Run System
uses, labelled managed-by=bigmachine, waits until it is ready, and grants ${INVOKER_ROLE} on it to the
driver's identity (the account of your credentials) or to --member. A service bigmachine did not deploy
is used as it is if its settings serve, and otherwise refused with the gcloud command that fixes it.

flags:
${SERVICE_FLAGS_HELP}${settingsFlagsHelp(`, then ${DEFAULT_DEPLOY_MAX_INSTANCES}`)}  --member KIND:ID         who may invoke the service, e.g. serviceAccount:driver@P.iam.gserviceaccount.com
                           (default the account of your credentials)
  --no-grant               grant nothing
  --help                   print this help
`;

const spec: CommandSpec = {
  name: "deploy",
  usage: USAGE,
  flags: { ...SETTINGS_FLAGS, member: { type: "string" }, "no-grant": { type: "boolean" } },
  run: deploy,
};

/** Runs `bigmachine deploy ARGV`; resolves to the exit code. */
export function runDeployCommand(argv: string[], io?: CommandIO): Promise<number> {
  return runCommand(spec, argv, io);
}

async function deploy(flags: Flags, io: CommandIO): Promise<number> {
  const settings = settingsOf(flags, io.env);
  const options = serviceOptionsOf(settings, settings.maxInstances || DEFAULT_DEPLOY_MAX_INSTANCES);
  return withClients(io, settings, async (clients) => {
    const account = typeof flags.member === "string" ? flags.member : clients.account;
    // Known before anything is deployed, so a deploy never half-happens for want of a member.
    if (!flags["no-grant"] && !account) {
      throw errorOf(
        "precondition",
        `cannot tell which identity your credentials speak for, so there is no one to grant ${INVOKER_ROLE} to: pass --member KIND:ID (e.g. serviceAccount:driver@${settings.project}.iam.gserviceaccount.com), or --no-grant`,
        { severity: "fatal" },
      );
    }
    const deployed = await ensureService(clients.services, { ...options, ...io.readiness });
    const what = deployed.change === "created" ? "created" : deployed.change === "updated" ? "updated" : "left unchanged";
    const whose = deployed.managed ? "managed by bigmachine" : "not deployed by bigmachine; its settings serve, so it is used as it is";
    io.stdout.write(`${what} service ${settings.service} (${whereOf(settings)}), ${whose}: revision ${deployed.revision} is ready\n`);
    io.stdout.write(`url: ${deployed.uri}\n`);
    const service = await findService(clients.services, deployed.name);
    // The deployment key is a secret: every setting but the environment is shown.
    const shown = gcloudArguments(service ?? {}).filter((arg) => !arg.startsWith("--update-env-vars="));
    io.stdout.write(`settings: ${shown.join(" ")}\n`);
    if (!flags["no-grant"]) {
      const member = memberOf(account!);
      const added = await grantInvoker(clients.services, deployed.name, member);
      io.stdout.write(added ? `granted ${INVOKER_ROLE} to ${member}\n` : `${member} already has ${INVOKER_ROLE}\n`);
    }
    return 0;
  });
}
