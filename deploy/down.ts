/**
 * @module
 * `bigmachine down`: deletes the worker's Cloud Run service with all its revisions, and nothing else
 * (the image stays in Artifact Registry, IAM grants on the project stay). It asks first: `--yes`
 * skips the question; without it the service's name must be typed at a terminal, and with no
 * terminal nothing is deleted.
 */
import { createInterface } from "node:readline";
import { errorOf } from "../src/core.ts";
import { deleteService, findService } from "../src/systems/cloudrun/service-deployer.ts";
import { isManaged } from "../src/systems/cloudrun/service-spec.ts";
import { runCommand, SERVICE_FLAGS, SERVICE_FLAGS_HELP, settingsOf, whereOf, withClients, type CommandIO, type CommandSpec, type Flags } from "./command.ts";

const USAGE = `usage: bigmachine down [flags]

Deletes the Cloud Run service of bigmachine's worker and its revisions; nothing else of the project.
Without --yes, it asks you to type the service's name (and refuses when not run at a terminal).

flags:
${SERVICE_FLAGS_HELP}  --yes                    delete without asking
  --help                   print this help
`;

const spec: CommandSpec = { name: "down", usage: USAGE, flags: { ...SERVICE_FLAGS, yes: { type: "boolean", short: "y" } }, run: down };

/** Runs `bigmachine down ARGV`; resolves to the exit code. */
export function runDownCommand(argv: string[], io?: CommandIO): Promise<number> {
  return runCommand(spec, argv, io);
}

async function down(flags: Flags, io: CommandIO): Promise<number> {
  const settings = settingsOf(flags, io.env);
  return withClients(io, settings, async (clients) => {
    const service = await findService(clients.services, settings.serviceName);
    if (!service) throw errorOf("not-exist", `no service ${settings.service} in ${whereOf(settings)}: nothing to delete`, { severity: "fatal" });
    if (!flags.yes) {
      if (!io.stdin.isTTY) {
        throw errorOf("precondition", `not deleting service ${settings.service} without confirmation: pass --yes, or run this at a terminal and type the service's name`, { severity: "fatal" });
      }
      const whose = isManaged(service) ? "" : ", which bigmachine did not deploy,";
      io.stderr.write(`Delete Cloud Run service ${settings.service} (${whereOf(settings)})${whose} and all its revisions? Type its name to confirm: `);
      const typed = await readLine(io.stdin);
      if (typed.trim() !== settings.service) {
        throw errorOf("canceled", `not deleted: ${JSON.stringify(typed.trim())} is not the service's name`, { severity: "fatal" });
      }
    }
    await deleteService(clients.services, settings.serviceName);
    io.stdout.write(`deleted service ${settings.service} (${whereOf(settings)})\n`);
    return 0;
  });
}

/** One line of `input` (empty at its end). */
function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const lines = createInterface({ input, terminal: false });
    let answered = false;
    const answer = (line: string) => {
      if (answered) return;
      answered = true;
      lines.close();
      resolve(line);
    };
    lines.once("line", answer);
    lines.once("close", () => answer(""));
  });
}
