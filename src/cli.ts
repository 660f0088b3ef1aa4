/**
 * @module
 * The `bigmachine` command: a dispatcher over subcommands, each in its own module.
 */

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  emulators: {
    summary: "run the Cloud Run and Cloud Logging emulators until interrupted (the worker image mapped)",
    load: async () => {
      const [{ runEmulatorsCommand }, { workerImageResolver }] = await Promise.all([import("./emulators/cli.ts"), import("./systems/cloudrun/emulated.ts")]);
      // Any tag of the worker image runs this package's worker, so a driver needs nothing but the printed lines.
      return async (argv) => runEmulatorsCommand(argv, { resolveImage: await workerImageResolver() });
    },
  },
  build: {
    summary: "build the Cloud Run worker image with Cloud Build and push it to Artifact Registry",
    load: async () => (await import("../deploy/build.ts")).runBuildCommand,
  },
  deploy: {
    summary: "create or update the worker's Cloud Run service and let the driver invoke it",
    load: async () => (await import("../deploy/deploy.ts")).runDeployCommand,
  },
  status: {
    summary: "show the worker's Cloud Run service: URL, revision, settings, invokers",
    load: async () => (await import("../deploy/status.ts")).runStatusCommand,
  },
  grant: {
    summary: "let an identity (default: yours) invoke the worker's Cloud Run service",
    load: async () => (await import("../deploy/grant.ts")).runGrantCommand,
  },
  down: {
    summary: "delete the worker's Cloud Run service (asks first unless --yes)",
    load: async () => (await import("../deploy/down.ts")).runDownCommand,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: bigmachine <command> [flags]\n\ncommands:\n${lines.join("\n")}\n`;
}

/** Runs the subcommand named by `argv[0]`; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    process.stderr.write(name && name !== "help" && name !== "--help" ? `unknown command: ${name}\n${usage()}` : usage());
    return name === undefined || name === "help" || name === "--help" ? 0 : 2;
  }
  return (await command.load())(rest);
}
