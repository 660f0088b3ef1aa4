/**
 * `bigmachine emulators` as a user runs it: a child process that prints export lines, serves every
 * endpoint, runs an image mapped with --image, and on SIGINT stops everything and exits 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { descendantsRunning, isAlive, waitFor } from "./identity/fixtures/processes.ts";

const BIN = fileURLToPath(new URL("../../bin/bigmachine.js", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./identity/fixtures/instance-server.mjs", import.meta.url));
const FLAVOR = { "Metadata-Flavor": "Google" };

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function json(res: Response): Promise<any> {
  const body = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${res.url}: ${body}`);
  return JSON.parse(body);
}

describe("bigmachine emulators", () => {
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited(child);
    }
    child = undefined;
  });

  it("prints the environment, serves until SIGINT, then stops everything and exits 0", async () => {
    const proc = spawn(
      process.execPath,
      [BIN, "emulators", "--project", "cli-proj", "--region", "asia-east1", "--image", `fixture:1=${process.execPath}  ${FIXTURE}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    let stdout = "";
    let stderr = "";
    proc.stdout!.on("data", (chunk) => (stdout += chunk));
    proc.stderr!.on("data", (chunk) => (stderr += chunk));

    const env = await waitFor("five export lines", () => {
      const lines = stdout.split("\n").filter((line) => line.startsWith("export "));
      if (proc.exitCode !== null) throw new Error(`exited early (${proc.exitCode}): ${stderr}`);
      return lines.length === 5 ? Object.fromEntries(lines.map((l) => l.slice("export ".length).split("="))) : undefined;
    }, 20_000);
    expect(Object.keys(env).sort()).toEqual([
      "CLOUD_LOGGING_EMULATOR_HOST",
      "CLOUD_RUN_EMULATOR_HOST",
      "CLOUD_RUN_REGION",
      "GCE_METADATA_HOST",
      "GOOGLE_CLOUD_PROJECT",
    ]);
    expect(env).toMatchObject({ GOOGLE_CLOUD_PROJECT: "cli-proj", CLOUD_RUN_REGION: "asia-east1" });
    expect(stdout.startsWith("export ")).toBe(true);
    await waitFor("the human line on stderr", () => stderr.includes("Ctrl-C"));

    const metadata = `http://${env.GCE_METADATA_HOST}/computeMetadata/v1`;
    expect(await (await fetch(`${metadata}/project/project-id`, { headers: FLAVOR })).text()).toBe("cli-proj");
    const logs = await json(
      await fetch(`http://${env.CLOUD_LOGGING_EMULATOR_HOST}/v2/entries:list`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ resourceNames: ["projects/cli-proj"] }),
      }),
    );
    expect(logs.entries ?? []).toEqual([]);

    // Deploy over plain REST, as the official client would, and wait for the operation.
    const run = `http://${env.CLOUD_RUN_EMULATOR_HOST}/v2`;
    let operation = await json(
      await fetch(`${run}/projects/cli-proj/locations/asia-east1/services?serviceId=svc`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ template: { containers: [{ image: "fixture:1" }] } }),
      }),
    );
    operation = await waitFor("the create operation", async () => {
      const current = await json(await fetch(`${run}/${operation.name}`));
      return current.done ? current : undefined;
    });
    expect(operation.error).toBeUndefined();
    const { name, uri } = operation.response;
    const email = await (await fetch(`${metadata}/instance/service-accounts/default/email`, { headers: FLAVOR })).text();
    await json(
      await fetch(`${run}/${name}:setIamPolicy`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ policy: { bindings: [{ role: "roles/run.invoker", members: [`serviceAccount:${email}`] }] } }),
      }),
    );
    const idToken = await (
      await fetch(`${metadata}/instance/service-accounts/default/identity?audience=${encodeURIComponent(uri)}`, { headers: FLAVOR })
    ).text();
    const reply = await json(await fetch(uri, { headers: { Authorization: `Bearer ${idToken}` } }));
    expect(isAlive(reply.pid)).toBe(true);
    expect(descendantsRunning(FIXTURE, proc.pid!)).toContain(reply.pid);

    proc.kill("SIGINT");
    expect(await exited(proc)).toBe(0);
    expect(stderr).toMatch(/SIGINT, shutting down/);
    expect(isAlive(reply.pid)).toBe(false);
    for (const hostPort of [env.CLOUD_RUN_EMULATOR_HOST, env.CLOUD_LOGGING_EMULATOR_HOST, env.GCE_METADATA_HOST]) {
      await expect(fetch(`http://${hostPort}/`)).rejects.toThrow();
    }
    await expect(fetch(uri)).rejects.toThrow();
  });

  it("prints the chaos seed and every rate with --chaos, and exits 0 on SIGTERM", async () => {
    const proc = spawn(process.execPath, [BIN, "emulators", "--chaos", "1234", "--chaos-drops-per-minute", "3", "--iam-propagation-ms", "500"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let stderr = "";
    proc.stderr!.on("data", (chunk) => (stderr += chunk));
    await waitFor("the human lines on stderr", () => {
      if (proc.exitCode !== null) throw new Error(`exited early (${proc.exitCode}): ${stderr}`);
      return stderr.includes("Ctrl-C");
    }, 20_000);
    expect(stderr).toContain(
      "chaos seed 1234: idle instances reclaimed 0.5/min each, WebSockets dropped 3/min each, cold starts delayed up to 5000 ms",
    );
    expect(stderr).toContain("IAM changes apply after 500 ms");
    proc.kill("SIGTERM");
    expect(await exited(proc)).toBe(0);
  });
});
