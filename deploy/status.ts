/**
 * @module
 * `bigmachine status`: the worker's Cloud Run service as a driver would find it: its URL and ready
 * revision, whether bigmachine manages it, its instance ceiling, its deployment key (present or not,
 * never its value), how its settings differ from what the Cloud Run System wants, and who may invoke
 * it. Exits 1 when the service is missing or not ready.
 */
import { errorOf } from "../src/core.ts";
import { serviceOptionsOf } from "../src/systems/cloudrun/config.ts";
import { findService, INVOKER_ROLE, isServiceReady, revisionFailure } from "../src/systems/cloudrun/service-deployer.ts";
import { adminApiError, gcloudUpdateCommand } from "../src/systems/cloudrun/service-errors.ts";
import { maxInstancesOf, settingDifferences } from "../src/systems/cloudrun/service-settings.ts";
import { deploymentKeyProblem, isManaged, MANAGED_LABEL, MIN_DEPLOYMENT_KEY_LENGTH, resolveServiceOptions, workerServiceSpec } from "../src/systems/cloudrun/service-spec.ts";
import { runCommand, SERVICE_FLAGS_HELP, settingsOf, SETTINGS_FLAGS, settingsFlagsHelp, whereOf, withClients, type CommandIO, type CommandSpec, type Flags } from "./command.ts";

const USAGE = `usage: bigmachine status [flags]

Shows the Cloud Run service of bigmachine's worker: its URL and ready revision, whether bigmachine
manages it, its instance ceiling and deployment key, how its settings differ from what the Cloud Run
System wants (the settings flags below change what it wants, as they change the System's), and who may
invoke it. Exits 1 when the service is missing or not ready.

flags:
${SERVICE_FLAGS_HELP}${settingsFlagsHelp(", then 1")}  --help                   print this help
`;

const spec: CommandSpec = { name: "status", usage: USAGE, flags: SETTINGS_FLAGS, run: status };

/** Runs `bigmachine status ARGV`; resolves to the exit code: 0 when the service is ready. */
export function runStatusCommand(argv: string[], io?: CommandIO): Promise<number> {
  return runCommand(spec, argv, io);
}

async function status(flags: Flags, io: CommandIO): Promise<number> {
  const settings = settingsOf(flags, io.env);
  return withClients(io, settings, async (clients) => {
    const service = await findService(clients.services, settings.serviceName);
    if (!service) {
      throw errorOf("not-exist", `no service ${settings.service} in ${whereOf(settings)}: deploy it with bigmachine deploy (or cloudbuild.yaml)`, { severity: "fatal" });
    }
    const managed = isManaged(service);
    const ready = isServiceReady(service);
    const wanted = workerServiceSpec(resolveServiceOptions(serviceOptionsOf(settings, settings.maxInstances || 1)), "");
    const differences = settingDifferences(service, wanted);
    const keyProblem = deploymentKeyProblem(service);
    let invokers: string[];
    try {
      const [policy] = await clients.services.getIamPolicy({ resource: settings.serviceName });
      invokers = (policy.bindings ?? []).filter((b) => b.role === INVOKER_ROLE).flatMap((b) => b.members ?? []);
    } catch (err) {
      throw adminApiError(`read the IAM policy of ${settings.serviceName}`, err);
    }

    const lines = [
      `service    ${settings.service} (${whereOf(settings)})`,
      `url        ${service.uri || "none yet"}`,
      managed
        ? `managed    yes (label ${MANAGED_LABEL.key}=${MANAGED_LABEL.value}): drivers update it as they need`
        : `managed    no (deployed by hand or by cloudbuild.yaml): bigmachine uses it as it is and never changes it`,
      ready ? `ready      yes, revision ${String(service.latestReadyRevision).split("/").at(-1)}` : `ready      no: ${notReady(settings.serviceName, service)}`,
      `instances  at most ${maxInstancesOf(service)}, at least ${Number(service.template?.scaling?.minInstanceCount ?? 0)}`,
      `key        ${keyProblem ?? "set"}`,
    ];
    if (differences.length === 0 && !keyProblem) {
      lines.push("settings   as the Cloud Run System wants them");
    } else {
      const count = differences.length + (keyProblem ? 1 : 0);
      lines.push(`settings   ${count} ${count === 1 ? "differs" : "differ"} from what the Cloud Run System wants:`);
      for (const d of differences) lines.push(`  - ${d.what}: ${d.actual}, wanted ${d.wanted} (${d.argument})`);
      if (keyProblem) lines.push(`  - deployment key: ${keyProblem}, wanted a random key of at least ${MIN_DEPLOYMENT_KEY_LENGTH} characters`);
      lines.push(
        managed
          ? "           a driver updates them when it starts (or run bigmachine deploy)"
          : `           a driver refuses the service until they are fixed with:\n             ${gcloudUpdateCommand({ name: settings.serviceName, differences, keyProblem })}`,
      );
    }
    lines.push(`invokers   ${invokers.length > 0 ? invokers.join(", ") : `none besides the project's owners and editors (grant with bigmachine grant)`}`);
    io.stdout.write(`${lines.join("\n")}\n`);
    return ready ? 0 : 1;
  });
}

/** Why a service is not ready: still deploying, or the reason its latest revision failed. */
function notReady(name: string, service: Parameters<typeof isServiceReady>[0]): string {
  if (service.reconciling) return "a deploy is in progress";
  return revisionFailure(name, service).message;
}
