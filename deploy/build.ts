/**
 * @module
 * `bigmachine build`: builds the worker image with Cloud Build from `cloudbuild.yaml` and pushes it to
 * Artifact Registry, without deploying (`_DEPLOY=false`): `bigmachine deploy` does that, as a service
 * bigmachine manages. No Docker engine is needed here; Cloud Build builds remotely, and its output
 * streams to this terminal.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { errorOf } from "../src/core.ts";
import { resolveCloudRunSettings } from "../src/systems/cloudrun/config.ts";
import { defaultWorkerImage, WORKER_IMAGE_REPOSITORY } from "../src/systems/cloudrun/service-spec.ts";
import { CLOUDBUILD_CONFIG, DEFAULT_TAG, REPOSITORY_ROOT, SUBSTITUTIONS, WORKER_DOCKERFILE, workerImage } from "./cloudbuild-config.ts";
import { runCommand, usageError, type CommandIO, type CommandSpec, type Env, type Flags } from "./command.ts";

/** Runs `command args` in `cwd` with `env`, its output on this process's; resolves to its exit code. */
export type ProgramRunner = (command: string, args: string[], options: { cwd: string; env: Env }) => Promise<number>;

/** Where the build runs: the command's surroundings, the program runner, and the source. */
export interface BuildIO extends CommandIO {
  /** Default {@link runProgram}. */
  run?: ProgramRunner;
  /** The build's source, holding `cloudbuild.yaml`; default the repository root. */
  sourceDir?: string;
}

const USAGE = `usage: bigmachine build [flags]

Builds the Cloud Run worker image with Cloud Build (gcloud builds submit --config ${CLOUDBUILD_CONFIG}) and
pushes it to Artifact Registry as REGION-docker.pkg.dev/PROJECT/REPOSITORY/worker:TAG (and :BUILD_ID).
It does not deploy: run bigmachine deploy next. Needs the gcloud CLI, signed in.

flags:
  --project P              Google Cloud project (default $BIGMACHINE_CLOUDRUN_PROJECT, then $GOOGLE_CLOUD_PROJECT)
  --region R               Artifact Registry region (default $BIGMACHINE_CLOUDRUN_REGION, then $CLOUD_RUN_REGION, then us-central1)
  --repository NAME        Artifact Registry repository, Docker format (default ${WORKER_IMAGE_REPOSITORY})
  --tag T                  image tag besides the build id (default ${DEFAULT_TAG}, the one drivers ask for by default)
  --help                   print this help
`;

const spec: CommandSpec = {
  name: "build",
  usage: USAGE,
  flags: { project: { type: "string" }, region: { type: "string" }, repository: { type: "string" }, tag: { type: "string" } },
  run: (flags, io) => build(flags, io as BuildIO),
};

/** Runs `bigmachine build ARGV`; resolves to the exit code (gcloud's failure is 1, bad flags 2). */
export function runBuildCommand(argv: string[], io?: BuildIO): Promise<number> {
  return runCommand(spec, argv, io);
}

async function build(flags: Flags, io: BuildIO): Promise<number> {
  const settings = resolveCloudRunSettings({ project: flag(flags.project), region: flag(flags.region) }, io.env);
  const repository = flag(flags.repository) ?? WORKER_IMAGE_REPOSITORY;
  if (!/^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(repository)) throw usageError(`--repository ${JSON.stringify(repository)} is not an Artifact Registry repository id (lower-case letters, digits, hyphens)`);
  const tag = flag(flags.tag) ?? DEFAULT_TAG;
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw usageError(`--tag ${JSON.stringify(tag)} is not an image tag (letters, digits, _ . -, at most 128)`);

  const sourceDir = io.sourceDir ?? REPOSITORY_ROOT;
  for (const file of [CLOUDBUILD_CONFIG, WORKER_DOCKERFILE]) {
    if (!existsSync(join(sourceDir, file))) {
      throw errorOf("not-exist", `${file} is not in ${sourceDir}: bigmachine build runs from a checkout of the bigmachine repository`, { severity: "fatal" });
    }
  }
  const substitutions = [
    `${SUBSTITUTIONS.region}=${settings.region}`,
    `${SUBSTITUTIONS.repository}=${repository}`,
    `${SUBSTITUTIONS.tag}=${tag}`,
    `${SUBSTITUTIONS.deploy}=false`,
  ];
  const args = ["builds", "submit", `--project=${settings.project}`, `--config=${CLOUDBUILD_CONFIG}`, `--substitutions=${substitutions.join(",")}`, "."];
  const image = workerImage(settings.project, settings.region, repository, tag);
  io.stdout.write(`building ${image} with Cloud Build: gcloud ${args.join(" ")}\n`);
  const code = await (io.run ?? runProgram)("gcloud", args, { cwd: sourceDir, env: io.env });
  if (code !== 0) throw errorOf("remote", `gcloud builds submit failed (exit code ${code}); its output above says why`, { severity: "fatal" });
  const next = image === defaultWorkerImage(settings.project, settings.region) ? "bigmachine deploy" : `bigmachine deploy --image ${image}`;
  io.stdout.write(`pushed ${image}; deploy it with: ${next}\n`);
  return 0;
}

/** The default {@link ProgramRunner}: spawns the program, found on `env`'s PATH, with this process's output. */
export function runProgram(command: string, args: string[], options: { cwd: string; env: Env }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env as NodeJS.ProcessEnv, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "ENOENT" ? errorOf("not-exist", `${command} is not on PATH: install the Google Cloud CLI (gcloud) and sign in`, { severity: "fatal", cause: err }) : err);
    });
    child.once("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function flag(value: Flags[string]): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}
