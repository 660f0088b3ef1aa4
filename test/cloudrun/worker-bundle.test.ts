/**
 * The worker as its image runs it: bundled into one file (what `worker/Dockerfile` does), started with
 * plain node from a folder with no dependencies. It refuses to start without a deployment key, serves
 * the attach route on `$PORT` with one, and exits cleanly on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ATTACH_STATUS, DEPLOYMENT_KEY_ENV, newDeploymentKey } from "../../src/systems/cloudrun/attach-protocol.ts";
import { bundleWorker, type WorkerBundle } from "../../worker/build.ts";
import { attachHeaders, newSecret, rawAttach } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

describe("the bundled worker", () => {
  let dir: string;
  let file: string;
  let bundle: WorkerBundle;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-worker-bundle-"));
    file = join(dir, "worker.mjs");
    bundle = await bundleWorker(file);
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the bundle with `env` added to this process's environment, less the deployment key. */
  function run(env: Record<string, string>) {
    const base = { ...process.env };
    delete base[DEPLOYMENT_KEY_ENV];
    const child = spawn(process.execPath, [file], { cwd: dir, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.resume();
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    return { child, exited, stderr: () => stderr };
  }

  it("holds the worker and what it imports, and no deploy, emulator, bundler or test code", () => {
    expect(bundle.inputs.some((input) => input.endsWith("worker/main.ts"))).toBe(true);
    expect(bundle.inputs.some((input) => input.endsWith("src/ship/program-store.ts"))).toBe(true);
    expect(bundle.inputs.filter((input) => /(^|\/)(deploy|test)\/|src\/emulators\/|esbuild|src\/ship\/bundle/.test(input))).toEqual([]);
  });

  it("refuses to start without a deployment key, saying why", async () => {
    const worker = run({ PORT: "0" });
    expect(await worker.exited).toEqual({ code: 2, signal: null });
    expect(worker.stderr()).toContain(`${DEPLOYMENT_KEY_ENV} is not set`);
  });

  it("serves the attach route on $PORT and exits cleanly on SIGTERM", async () => {
    const key = newDeploymentKey();
    const worker = run({ PORT: "0", [DEPLOYMENT_KEY_ENV]: key, BIGMACHINE_WORKER_PROGRAM_DIR: join(dir, "programs") });
    await waitUntil("the worker says where it serves", () => /serving attaches on http:\/\/127\.0\.0\.1:\d+/.test(worker.stderr()));
    const url = /serving attaches on (http:\/\/127\.0\.0\.1:\d+)/.exec(worker.stderr())![1];
    // No metadata server answers here (the test setup points at a closed port): the id is made up, and said so.
    expect(worker.stderr()).toMatch(/could not read the instance id .* using the random id/);
    const refusal = await rawAttach(url, attachHeaders("not this service's deployment key, but long enough", newSecret()));
    expect(refusal.status).toBe(ATTACH_STATUS.unauthorized);
    const hello = await rawAttach(url, attachHeaders(key, newSecret()));
    const first = await hello.tunnel!.next({ timeoutMs: 10_000, what: "hello" });
    expect(first.kind === "control" && first.message.type).toBe("hello");
    hello.tunnel!.close();
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});
