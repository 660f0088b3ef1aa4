/**
 * What a machine can reach of its worker. The worker, as its image runs it (bundled, the deployment key
 * in its environment, as root), starts machines as another user, in a folder of their own: the machine
 * cannot read the worker's environment, so the key that lets anyone run code on the service stays out
 * of a session's reach. Off root, the same settings are refused with a clear error.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFatal, ResumableLink, RpcPeer } from "../../src/core.ts";
import { attach } from "../../src/systems/cloudrun/attach-client.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey, sessionProof } from "../../src/systems/cloudrun/attach-protocol.ts";
import { bundleWorker } from "../../worker/build.ts";
import { bundleFixture, newSecret, type Program } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

describe("a machine and its worker's secrets", () => {
  let dir: string;
  let file: string;
  let program: Program;
  const children: ChildProcess[] = [];
  const peers: RpcPeer[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bigmachine-machine-user-"));
    file = join(dir, "worker.mjs");
    await bundleWorker(file);
    program = await bundleFixture("snoop-program.ts");
  });

  afterAll(() => {
    for (const peer of peers) peer.close();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  function runWorker(env: Record<string, string>) {
    const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, PORT: "0", BIGMACHINE_WORKER_PROGRAM_DIR: join(dir, `programs-${children.length}`), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, stderr: () => stderr };
  }

  async function snoop(url: string, key: string): Promise<RpcPeer> {
    const secret = newSecret();
    const attached = await attach(url, { idToken: "no front end here", secret, proof: sessionProof(key, secret), program });
    const link = new ResumableLink();
    link.onDetach((err) => err && isFatal(err) && link.fail(err));
    void link.attach(attached.link);
    const peer = new RpcPeer(link);
    peers.push(peer);
    await peer.call("Supervisor.register", { name: "Snoop", type: "Snoop", state: {} });
    return peer;
  }

  it.runIf(asRoot)("runs machines as another user, who cannot read the worker's environment and its key", async () => {
    const key = newDeploymentKey();
    const worker = runWorker({ [DEPLOYMENT_KEY_ENV]: key, BIGMACHINE_WORKER_MACHINE_UID: String(NOBODY), BIGMACHINE_WORKER_MACHINE_GID: String(NOBODY) });
    await waitUntil("the worker serves", () => /serving attaches on (http:\S+)/.test(worker.stderr()));
    const url = /serving attaches on (http:\S+)/.exec(worker.stderr())![1];
    const peer = await snoop(url, key);
    expect(await peer.call("Snoop.whoami", undefined)).toMatchObject({ uid: NOBODY, home: expect.stringMatching(/bigmachine-machine-/) });
    expect(await peer.call("Snoop.parentEnviron", DEPLOYMENT_KEY_ENV)).toBe("denied: EACCES");
    worker.child.kill("SIGTERM");
    await worker.exited;
  });

  it.runIf(asRoot)("would find the key without the other user (the check can see it)", async () => {
    const key = newDeploymentKey();
    const worker = runWorker({ [DEPLOYMENT_KEY_ENV]: key });
    await waitUntil("the worker serves", () => /serving attaches on (http:\S+)/.test(worker.stderr()));
    const url = /serving attaches on (http:\S+)/.exec(worker.stderr())![1];
    const peer = await snoop(url, key);
    expect(await peer.call("Snoop.parentEnviron", DEPLOYMENT_KEY_ENV)).toBe("has the key");
    worker.child.kill("SIGTERM");
    await worker.exited;
  });

  it.runIf(!asRoot)("refuses to start with a machine user when it is not root, saying why", async () => {
    const worker = runWorker({ [DEPLOYMENT_KEY_ENV]: newDeploymentKey(), BIGMACHINE_WORKER_MACHINE_UID: "1000", BIGMACHINE_WORKER_MACHINE_GID: "1000" });
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toMatch(/does not run as root/);
  });
});
