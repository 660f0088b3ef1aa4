/**
 * The Cloud Run System under the faults it exists to survive, on real worker processes behind the
 * emulated front end: tunnels dropped and rotated under long calls and streams, affinity misses, killed
 * instances, a driver killed outright, wrong credentials, a full service, and Logging's read quota.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BigmachineError, isKind, start, type Machine, type Session } from "../../src/index.ts";
import { attach, refusalError, resume } from "../../src/systems/cloudrun/attach-client.ts";
import { newDeploymentKey, sessionProof } from "../../src/systems/cloudrun/attach-protocol.ts";
import type { EmulatedCloudRun } from "../../src/systems/cloudrun/emulated.ts";
import { CloudRunSystem, type CloudRunSystemOptions } from "../../src/systems/cloudrun/system.ts";
import { Counter, Echo } from "../fixtures/services.ts";
import { descendantPids, processAlive, TSX } from "../local/helpers.ts";
import { rejection, waitUntil } from "../helpers.ts";
import { SHORT_KEEPALIVE, startTestCloudRun, testSystemOptions } from "./cloudrun-helpers.ts";

let emulated: EmulatedCloudRun;
const sessions: Session[] = [];

beforeAll(async () => {
  emulated = await startTestCloudRun({ logging: { ingestionDelayMs: 50, readQuotaPerMinute: 600 } });
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.shutdown()));
  await emulated?.close();
});

async function newSession(extra: CloudRunSystemOptions = {}): Promise<{ session: Session; system: CloudRunSystem; events: { type: string; fields: Record<string, unknown> }[] }> {
  const events: { type: string; fields: Record<string, unknown> }[] = [];
  const system = new CloudRunSystem(testSystemOptions(emulated, { onEvent: (type, fields) => events.push({ type, fields }), ...extra }));
  const session = await start({ system });
  sessions.push(session);
  return { session, system, events };
}

async function oneMachine(session: Session): Promise<Machine> {
  const [m] = await session.startMachines(1, { services: { Echo: new Echo(), Counter: new Counter() } });
  await m.waitFor("running");
  return m;
}

describe("the Cloud Run System under faults", () => {
  it("finishes a call in flight when its tunnel drops, running it once, after the resume", async () => {
    const { session, system } = await newSession();
    const m = await oneMachine(session);
    const call = m.service<Counter>("Counter").slowIncr({ by: 1, ms: 1_500 });
    await new Promise((r) => setTimeout(r, 300));
    emulated.emulators.serving.dropConnections(system.instanceIdOf(m)!);
    expect(await call).toEqual({ count: 1, runs: 1 });
    expect(system.sessionOf(m).stats.resumes).toBeGreaterThanOrEqual(1);
    expect(m.state).toBe("running");
  });

  it("keeps a long call and a stream going across three rotations, each item once and in order, with the machine's state intact", async () => {
    const { session, system } = await newSession({ tunnelRotateAfterMs: 400 });
    const m = await oneMachine(session);
    await m.service<Counter>("Counter").incr(10);
    const call = m.service<Counter>("Counter").slowIncr({ by: 5, ms: 2_500 });
    const stream = await m.service<Echo>("Echo").ticks({ n: 60, everyMs: 40 });
    const items: number[] = [];
    for await (const item of stream as AsyncIterable<number>) items.push(item);
    expect(items).toEqual([...Array(60).keys()]);
    expect(await call).toEqual({ count: 15, runs: 1 });
    expect(system.sessionOf(m).stats.rotations).toBeGreaterThanOrEqual(3);
    expect(await m.service<Counter>("Counter").state()).toMatchObject({ count: 15 });
  });

  it("retries a resume that reaches an instance without the machine, and resumes it", async () => {
    let misses = 0;
    const { session, system, events } = await newSession({
      attachClient: {
        resume: async (url, options) => {
          // Two affinity misses (a worker that does not hold the machine answers 404), then the real thing.
          if (misses < 2) {
            misses++;
            throw refusalError(url, 404, `this instance does not hold machine "${options.machineId}"`, "");
          }
          return resume(url, options);
        },
      },
    });
    const m = await oneMachine(session);
    emulated.emulators.serving.breakAffinity(300);
    emulated.emulators.serving.dropConnections(system.instanceIdOf(m)!);
    await waitUntil("the resume", () => system.sessionOf(m).stats.resumes === 1);
    expect(misses).toBe(2);
    expect(await m.call("Echo.echo", "back")).toBe("back");
    expect(events.some((e) => e.type === "cloudrun:tunnelLost")).toBe(true);
  });

  it("declares a machine lost when no resume reaches it within the keepalive timeout, and never replaces it", async () => {
    const { session, system } = await newSession({
      attachClient: { resume: async (url, options) => Promise.reject(refusalError(url, 404, `this instance does not hold machine "${options.machineId}"`, "")) },
    });
    const m = await oneMachine(session);
    const pending = m.service<Echo>("Echo").wait({ ms: 60_000 });
    emulated.emulators.serving.dropConnections(system.instanceIdOf(m)!);
    const err = await rejection(pending);
    expect(err.severity).toBe("fatal");
    await m.waitFor("stopped");
    expect(m.err?.message).toMatch(/lost: no tunnel to machine .* could be resumed within 4000 ms; last error: .*HTTP 404/);
    expect(session.machines()).toEqual([m]);
  });

  it("stops a machine whose instance is killed, saying it was lost", async () => {
    const { session, system } = await newSession();
    const m = await oneMachine(session);
    const instance = emulated.emulators.serving.instances().find((i) => i.id === system.instanceIdOf(m))!;
    emulated.emulators.serving.killInstance(instance.id);
    await m.waitFor("stopped");
    expect(m.err?.kind).toBe("unavailable");
    expect(m.err?.message).toMatch(/lost: no tunnel to machine/);
    expect(processAlive(instance.pid!)).toBe(false);
  });

  it("refuses an attach with a token for another audience, and one with a wrong session proof; nothing runs", async () => {
    const { session } = await newSession({
      service: "refusals",
      clients: { ...(emulated.systemOptions().clients as object), idTokens: { fetchIdToken: async () => emulated.emulators.issuer.signIdToken({ aud: "https://elsewhere.example", email: emulated.emulators.serviceAccountEmail }) } } as unknown as CloudRunSystemOptions["clients"],
    });
    const [m] = await session.startMachines(1);
    await expect(m.waitFor("running")).rejects.toThrow(/HTTP 401/);
    // The machine is unavailable; why is the attach's refusal.
    expect(m.err?.kind).toBe("unavailable");
    expect(isKind(m.err?.cause, "unauthorized")).toBe(true);

    const service = (session.system as CloudRunSystem).service!;
    const secret = newDeploymentKey();
    const idToken = emulated.emulators.issuer.signIdToken({ aud: service.uri, email: emulated.emulators.serviceAccountEmail });
    const wrong = await rejection(attach(service.uri, { idToken, secret, proof: sessionProof(newDeploymentKey(), secret), program: { digest: `sha256:${"0".repeat(64)}`, code: new Uint8Array() } }));
    expect(wrong.kind).toBe("unauthorized");
    expect(wrong.message).toMatch(/refused by the worker with HTTP 401/);
    // No instance of the service runs a machine for either attempt: the worker's spare process (node,
    // waiting in its folder for a program) was never given one.
    const instances = emulated.emulators.serving.instances(service.name);
    expect(instances.length).toBeGreaterThan(0);
    for (const instance of instances) {
      const processes = descendantPids(instance.pid!);
      expect(processes.filter((pid) => existsSync(`/proc/${pid}/cwd/program.mjs`))).toEqual([]);
    }
  });

  it("makes attaches wait while the service is at its instance ceiling, then fails them with a clear error", async () => {
    const service = "full-service";
    const first = await newSession({ service, maxInstances: 1 });
    const held = await oneMachine(first.session);
    // Another driver of the same service, also asking for a ceiling of 1: it stays 1, and is full.
    const second = await newSession({ service, maxInstances: 1, startTimeoutMs: 3_000 });
    const [m] = await second.session.startMachines(1);
    const err = await rejection(m.waitFor("running"));
    expect(err.message).toMatch(/no instance of .* took machine .* before the start deadline \(are max instances reached\?\)/);
    expect(await held.call("Echo.echo", "unaffected")).toBe("unaffected");
  });

  it("follows machine output through Logging while hitting the read quota, backing off and losing no line", { timeout: 90_000 }, async () => {
    const quota = await startTestCloudRun({ logging: { ingestionDelayMs: 50, readQuotaPerMinute: 4 } });
    try {
      const events: string[] = [];
      const system = new CloudRunSystem(
        testSystemOptions(quota, { logTail: { pollIntervalMs: 100, overlapMs: 3_000, reorderMs: 1_000, retryInitialMs: 300, retryMaxMs: 1_000 }, onEvent: (type) => events.push(type) }),
      );
      const session = await start({ system });
      const m = await oneMachine(session);
      const lines: string[] = [];
      const controller = new AbortController();
      const following = (async () => {
        for await (const line of m.tail(controller.signal)) if (line.text.startsWith("quota-line")) lines.push(line.text);
      })().catch(() => {});
      // Output in bursts, while the tail polls often enough to run into the quota.
      for (let burst = 0; burst < 4; burst++) {
        await m.service<Echo>("Echo").print({ lines: 10, tag: `quota-line ${burst}` });
        await new Promise((r) => setTimeout(r, 300));
      }
      await waitUntil("the tail to run into the quota", () => events.includes("cloudrun:logRetry"));
      // The quota's minute passes (sooner than a real one would).
      quota.emulators.logging.readQuotaPerMinute = 600;
      await waitUntil("every line through the tail", () => lines.length >= 40);
      controller.abort();
      await following;
      expect(lines).toEqual(Array.from({ length: 40 }, (_, i) => `quota-line ${Math.floor(i / 10)} ${i % 10}`));
      expect(events).toContain("cloudrun:logRetry");
      await session.shutdown();
    } finally {
      await quota.close();
    }
  });
});

describe("the program machines run", () => {
  it("is refused, naming the option, when the driver's entry script is a test runner's", async () => {
    const { session } = await newSession({ programEntry: undefined });
    const err = await rejection(session.startMachines(1));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/entry script .* belongs to vitest.* new CloudRunSystem\(\{ programEntry/);
  });
});

describe("stack traces", () => {
  it("name the driver's source files, when the driver asks for stacks", async () => {
    const system = new CloudRunSystem(testSystemOptions(emulated));
    const session = await start({ system, errorStacks: true });
    sessions.push(session);
    const m = await oneMachine(session);
    const err = await rejection(m.service<Echo>("Echo").throwPlain("where did it go"));
    expect((err.cause as Error).stack).toMatch(/at Echo\.throwPlain \(.*test\/fixtures\/services\.ts:\d+:\d+\)/);
  });
});

describe("costs", () => {
  it("leaves the service at zero instances after a shutdown: released workers exit, idle ones too", async () => {
    const { session, system } = await newSession({ service: "scale-to-zero", env: { BIGMACHINE_WORKER_IDLE_EXIT_MS: "1000" } });
    const machines = await session.startMachines(2, { services: { Echo: new Echo() } });
    await Promise.all(machines.map((m) => m.waitFor("running")));
    const name = system.service!.name;
    expect(emulated.emulators.serving.instances(name).length).toBeGreaterThanOrEqual(2);
    await session.shutdown();
    await waitUntil("no instance of the service is left", () => emulated.emulators.serving.instances(name).length === 0, 30_000);
  });
});

describe("a driver killed outright", () => {
  const ENV_DRIVER = fileURLToPath(new URL("./fixtures/env-driver.ts", import.meta.url));
  let home: string;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), "bigmachine-env-driver-"));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  /** The environment `bigmachine emulators` prints, and nothing of the tests' own credentials set-up. */
  function emulatorEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const { GOOGLE_APPLICATION_CREDENTIALS: _c, METADATA_SERVER_DETECTION: _m, ...env } = process.env;
    return { ...env, ...emulated.emulators.env(), HOME: home, CLOUDSDK_CONFIG: home, ...extra };
  }

  function runDriver(extra: Record<string, string>) {
    const child = spawn(process.execPath, [...TSX, ENV_DRIVER], { env: emulatorEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    return { child, closed, out: () => stdout, err: () => stderr };
  }

  it("works with nothing but the emulators' environment lines, shipping itself", { timeout: 120_000 }, async () => {
    const run = runDriver({ ENV_DRIVER_MACHINES: "1" });
    const timer = setTimeout(() => run.child.kill("SIGKILL"), 90_000);
    const code = await run.closed;
    clearTimeout(timer);
    expect(code, run.err()).toBe(0);
    expect(run.out()).toMatch(/^ready [0-9a-f]+$/m);
    expect(run.out()).toContain("done");
  });

  it("leaves no worker, machine or process a service started running past the keepalive timeout and the workers' linger", { timeout: 150_000 }, async () => {
    const run = runDriver({ ENV_DRIVER_MACHINES: "2", ENV_DRIVER_HANG: "1", ENV_DRIVER_SPAWN: "1", BIGMACHINE_KEEPALIVE_TIMEOUT_MS: String(SHORT_KEEPALIVE.timeoutMs), BIGMACHINE_CLOUDRUN_SERVICE: "crashing-driver", BIGMACHINE_CLOUDRUN_ENV: "BIGMACHINE_WORKER_ENDED_LINGER_MS=1000" });
    // Its last line before it hangs: the lines before it are in by then (they may come in separate reads).
    await waitUntil("the driver's machines are ready and their helper processes started", () => /^sleeps .*\n/m.test(run.out()), 90_000);
    const ids = /^ready (.+)$/m.exec(run.out())![1].split(" ");
    const instances = emulated.emulators.serving.instances().filter((i) => ids.includes(i.id));
    expect(instances).toHaveLength(2);
    const sleeps = /^sleeps (.+)$/m.exec(run.out())![1].split(" ").map(Number);
    const pids = [...instances.flatMap((i) => [i.pid!, ...descendantPids(i.pid!)]), ...sleeps];
    expect(sleeps).toHaveLength(2);
    for (const sleep of sleeps) expect(processAlive(sleep)).toBe(true);
    expect(pids.length).toBeGreaterThanOrEqual(6);
    run.child.kill("SIGKILL");
    await run.closed;
    // The keepalive timeout ends each machine (its watchdog), then the worker tells no one and exits.
    await waitUntil("every worker and machine process of the killed driver is gone", () => pids.every((pid) => !processAlive(pid)), SHORT_KEEPALIVE.timeoutMs + 15_000);
  });
});
