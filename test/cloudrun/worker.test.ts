/**
 * The worker's attach route on a real loopback listener: every refusal status, the fresh attach's
 * handshake and its failures (after each of which the worker serves the next attach), the relay of
 * frames, resumes, and how the machine's end reaches the tunnel and finishes the worker. The machine is
 * the echo fixture, bundled and shipped as a driver's program is.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ATTACH_HEADERS, ATTACH_PATH, ATTACH_STATUS, type ControlMessage } from "../../src/systems/cloudrun/attach-protocol.ts";
import type { TunnelSocket } from "../../src/systems/cloudrun/tunnel-socket.ts";
import {
  attachHeaders,
  bundleFixture,
  digestOf,
  newSecret,
  processAlive,
  rawAttach,
  startTestWorker,
  waitUntil,
  type Program,
  type TestWorker,
} from "./helpers.ts";

const STEP_MS = 15_000;

let program: Program;
let current: TestWorker | undefined;

beforeAll(async () => {
  program = await bundleFixture("echo-machine.ts");
});

afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function newWorker(options: Parameters<typeof startTestWorker>[0] = {}): Promise<TestWorker> {
  current = await startTestWorker(options);
  return current;
}

async function nextControl<T extends ControlMessage["type"]>(tunnel: TunnelSocket, type: T): Promise<Extract<ControlMessage, { type: T }>> {
  const next = await tunnel.next({ timeoutMs: STEP_MS, what: type });
  if (next.kind !== "control") throw new Error(`expected ${type}, got a binary message`);
  if (next.message.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(next.message)}`);
  return next.message as Extract<ControlMessage, { type: T }>;
}

async function nextBinary(tunnel: TunnelSocket): Promise<Buffer> {
  const next = await tunnel.next({ timeoutMs: STEP_MS, what: "a frame" });
  if (next.kind !== "binary") throw new Error(`expected a frame, got ${JSON.stringify(next.message)}`);
  return next.data;
}

async function roundTrip(tunnel: TunnelSocket, text: string): Promise<string> {
  tunnel.sendBinary(Buffer.from(text));
  return (await nextBinary(tunnel)).toString("utf8");
}

interface MachineInfo {
  pid: number;
  args: string[];
  env: Record<string, string | null>;
  connections: number;
}

async function info(tunnel: TunnelSocket): Promise<MachineInfo> {
  return JSON.parse(await roundTrip(tunnel, "info")) as MachineInfo;
}

/** Opens a tunnel that must be upgraded. */
async function open(tw: TestWorker, headers: Record<string, string>): Promise<TunnelSocket> {
  const res = await rawAttach(tw.served.url, headers);
  if (res.tunnel === undefined) throw new Error(`attach refused with ${res.status}: ${res.reason}`);
  return res.tunnel;
}

/** Expects the attach to be refused with `status`; returns the reason. */
async function refused(tw: TestWorker, headers: Record<string, string>, status: number): Promise<string> {
  const res = await rawAttach(tw.served.url, headers);
  if (res.tunnel !== undefined) {
    res.tunnel.close();
    throw new Error(`expected a refusal with ${status}, the attach was upgraded`);
  }
  expect(res.status).toBe(status);
  expect(res.reason).toBeTruthy();
  return res.reason!;
}

/** A fresh attach that ships the echo program and waits for ready. */
async function startMachine(tw: TestWorker, exec: { args?: string[]; env?: Record<string, string> } = {}) {
  const secret = newSecret();
  const tunnel = await open(tw, attachHeaders(tw.deploymentKey, secret));
  const hello = await nextControl(tunnel, "hello");
  tunnel.sendControl({ type: "exec", digest: program.digest, shipped: true, args: exec.args ?? [], env: exec.env ?? {} });
  tunnel.sendBinary(program.code);
  const ready = await nextControl(tunnel, "ready");
  return { tunnel, hello, ready, secret };
}

function resumeHeaders(tw: TestWorker, secret: string, machineId: string, resumeToken: string) {
  return attachHeaders(tw.deploymentKey, secret, { [ATTACH_HEADERS.machine]: machineId, [ATTACH_HEADERS.resumeToken]: resumeToken });
}

describe("the worker refuses before upgrading", () => {
  it("a plain request to the attach route (400) and any other path (404)", async () => {
    const tw = await newWorker();
    const plain = await fetch(`${tw.served.url}${ATTACH_PATH}`);
    expect(plain.status).toBe(ATTACH_STATUS.badRequest);
    expect(plain.headers.get("x-bigmachine-refusal")).toMatch(/only accepts WebSocket upgrades/);
    expect((await fetch(`${tw.served.url}/elsewhere`)).status).toBe(404);
  });

  it("another protocol version, or none (400)", async () => {
    const tw = await newWorker();
    const secret = newSecret();
    expect(await refused(tw, attachHeaders(tw.deploymentKey, secret, { "x-bigmachine-attach": "2" }), ATTACH_STATUS.badRequest)).toMatch(/version "2".*speaks version 1/);
    const { "x-bigmachine-attach": _, ...noVersion } = attachHeaders(tw.deploymentKey, secret);
    expect(await refused(tw, noVersion, ATTACH_STATUS.badRequest)).toMatch(/no attach protocol version/);
  });

  it("a missing or wrong secret or proof (401)", async () => {
    const tw = await newWorker();
    const secret = newSecret();
    const good = attachHeaders(tw.deploymentKey, secret);
    await refused(tw, attachHeaders("another deployment key, as long as a real one", secret), ATTACH_STATUS.unauthorized);
    await refused(tw, { ...good, "x-bigmachine-secret": newSecret() }, ATTACH_STATUS.unauthorized);
    const { "x-bigmachine-proof": _, ...noProof } = good;
    await refused(tw, noProof, ATTACH_STATUS.unauthorized);
    await refused(tw, attachHeaders(tw.deploymentKey, "short"), ATTACH_STATUS.unauthorized);
    expect(tw.worker.phase).toBe("idle");
  });

  it("a resume of a machine the instance does not hold (404)", async () => {
    const tw = await newWorker();
    expect(await refused(tw, resumeHeaders(tw, newSecret(), "m-elsewhere", "token"), ATTACH_STATUS.unknownMachine)).toMatch(/does not hold machine "m-elsewhere"/);
  });
});

describe("a fresh attach", () => {
  it("says hello, takes the shipped program, starts it as a local machine and relays its frames", async () => {
    const tw = await newWorker();
    const { tunnel, hello, ready } = await startMachine(tw, { args: ["-n", "4"], env: { ECHO_MACHINE_EXTRA: "from the driver", BIGMACHINE_MODE: "driver" } });
    expect(hello).toMatchObject({ type: "hello", instanceId: "test-instance", programs: [] });
    expect(hello.machineId).toMatch(/^m-/);
    expect(hello.resumeToken.length).toBeGreaterThanOrEqual(32);
    expect(ready).toMatchObject({ type: "ready", machineId: hello.machineId });
    expect(processAlive(ready.pid)).toBe(true);
    expect(tw.worker.phase).toBe("holding");
    expect(tw.cache.digests()).toEqual([program.digest]);

    const machine = await info(tunnel);
    expect(machine.pid).toBe(ready.pid);
    expect(machine.args).toEqual(["-n", "4"]);
    // The driver's variables arrive; the worker's own settings do not; machine mode cannot be overridden.
    expect(machine.env).toMatchObject({ ECHO_MACHINE_EXTRA: "from the driver", BIGMACHINE_MODE: "machine", BIGMACHINE_SYSTEM: "local", BIGMACHINE_DEPLOYMENT_KEY: null, PORT: null });

    // Frames pass whole and in order, large ones too.
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    tunnel.sendBinary(big);
    for (const text of ["one", "two", "three"]) tunnel.sendBinary(Buffer.from(text));
    expect((await nextBinary(tunnel)).equals(big)).toBe(true);
    for (const text of ["one", "two", "three"]) expect((await nextBinary(tunnel)).toString()).toBe(text);

    tunnel.sendBinary(Buffer.from("burst:300:65536"));
    for (let i = 0; i < 300; i++) {
      const frame = await nextBinary(tunnel);
      expect(frame.length).toBe(65536);
      expect(frame[0]).toBe(i & 0xff);
    }
    expect((await nextBinary(tunnel)).toString()).toBe("burst-done");

    // The instance is busy while it holds a machine.
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/already holds a machine/);
  });

  it("refuses a second fresh attach while the first is in its handshake, and takes one after the first leaves", async () => {
    const tw = await newWorker();
    const first = await open(tw, attachHeaders(tw.deploymentKey, newSecret()));
    await nextControl(first, "hello");
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/already starting a machine/);
    first.close();
    await waitUntil("the worker is idle again", () => tw.worker.phase === "idle");
    const { tunnel } = await startMachine(tw);
    expect(await roundTrip(tunnel, "hello again")).toBe("hello again");
  });

  it("answers a malformed control message with failed and a close, then serves the next attach", async () => {
    const tw = await newWorker();
    const tunnel = await open(tw, attachHeaders(tw.deploymentKey, newSecret()));
    await nextControl(tunnel, "hello");
    tunnel.ws.send("this is not JSON");
    const failed = await nextControl(tunnel, "failed");
    expect(failed).toMatchObject({ kind: "invalid", message: expect.stringMatching(/not JSON/) });
    expect((await tunnel.closed).code).toBe(1008);
    expect(tw.worker.phase).toBe("idle");

    const { tunnel: next } = await startMachine(tw);
    expect(await roundTrip(next, "still serving")).toBe("still serving");
  });

  it("fails a handshake that is out of order or names a program it cannot have", async () => {
    const tw = await newWorker();
    const attempt = async (send: (tunnel: TunnelSocket) => void) => {
      const tunnel = await open(tw, attachHeaders(tw.deploymentKey, newSecret()));
      await nextControl(tunnel, "hello");
      send(tunnel);
      const failed = await nextControl(tunnel, "failed");
      await tunnel.closed;
      await waitUntil("the worker is idle again", () => tw.worker.phase === "idle");
      return failed;
    };
    expect(await attempt((t) => t.sendBinary(Buffer.from("a frame too early")))).toMatchObject({ kind: "invalid", message: expect.stringMatching(/expected an exec message/) });
    expect(await attempt((t) => t.sendControl({ type: "ready", machineId: "m-x", pid: 1 }))).toMatchObject({ kind: "invalid", message: expect.stringMatching(/got a ready message/) });
    const unknown = digestOf(Buffer.from("a program no one shipped"));
    expect(await attempt((t) => t.sendControl({ type: "exec", digest: unknown, shipped: false, args: [], env: {} }))).toMatchObject({ kind: "precondition", message: expect.stringMatching(/does not hold program/) });
    const tampered = await attempt((t) => {
      t.sendControl({ type: "exec", digest: program.digest, shipped: true, args: [], env: {} });
      t.sendBinary(Buffer.concat([program.code, Buffer.from("\n// tampered\n")]));
    });
    expect(tampered.kind).toBe("invalid");
    expect(tw.cache.digests()).toEqual([]);
  });

  it("reports a program that exits before it serves, and one that never reports, and keeps the program for the next attach", async () => {
    const tw = await newWorker({ machineStartupTimeoutMs: 1_500 });
    const start = async (env: Record<string, string>, shipped: boolean) => {
      const tunnel = await open(tw, attachHeaders(tw.deploymentKey, newSecret()));
      const hello = await nextControl(tunnel, "hello");
      tunnel.sendControl({ type: "exec", digest: program.digest, shipped, args: [], env });
      if (shipped) tunnel.sendBinary(program.code);
      const failed = await nextControl(tunnel, "failed");
      await waitUntil("the worker is idle again", () => tw.worker.phase === "idle");
      return { hello, failed };
    };
    const crashed = await start({ ECHO_MACHINE_CRASH: "7" }, true);
    expect(crashed.hello.programs).toEqual([]);
    expect(crashed.failed).toMatchObject({ kind: "unavailable", message: expect.stringMatching(/exited with code 7 before it served/) });

    // The instance now holds the program: the next hello says so, and it need not be shipped again.
    const silent = await start({ ECHO_MACHINE_SILENT: "1" }, false);
    expect(silent.hello.programs).toEqual([program.digest]);
    expect(silent.failed).toMatchObject({ kind: "timeout", message: expect.stringMatching(/did not report that it serves/) });

    const { tunnel } = await startMachine(tw);
    expect(await roundTrip(tunnel, "third time")).toBe("third time");
  });
});

describe("a resume", () => {
  it("is refused with a wrong token or secret, or while a tunnel is open, and reaches the machine over a fresh connection after the tunnel drops", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret } = await startMachine(tw);
    expect((await info(tunnel)).connections).toBe(1);

    expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, "wrong-token"), ATTACH_STATUS.unauthorized)).toMatch(/wrong resume token/);
    await refused(tw, resumeHeaders(tw, newSecret(), hello.machineId, hello.resumeToken), ATTACH_STATUS.unauthorized);
    expect(await refused(tw, resumeHeaders(tw, secret, "m-another", hello.resumeToken), ATTACH_STATUS.unknownMachine)).toMatch(/does not hold/);
    expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken), ATTACH_STATUS.busy)).toMatch(/already has an open tunnel/);

    tunnel.close();
    await tunnel.closed;
    let resumed: TunnelSocket | undefined;
    await waitUntil("the resume is accepted", async () => {
      const res = await rawAttach(tw.served.url, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken));
      resumed = res.tunnel;
      return resumed !== undefined;
    });
    const ready = await nextControl(resumed!, "ready");
    expect(ready.machineId).toBe(hello.machineId);
    const machine = await info(resumed!);
    expect(machine.connections).toBe(2);
    expect(machine.pid).toBe(ready.pid);
  });

  it("loses its tunnel, not the machine, when the driver sends a control message while frames flow", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret } = await startMachine(tw);
    tunnel.sendControl({ type: "ready", machineId: hello.machineId, pid: 1 });
    expect(await nextControl(tunnel, "failed")).toMatchObject({ kind: "invalid" });
    expect((await tunnel.closed).code).toBe(1008);
    let resumed: TunnelSocket | undefined;
    await waitUntil("the resume is accepted", async () => {
      resumed = (await rawAttach(tw.served.url, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken))).tunnel;
      return resumed !== undefined;
    });
    await nextControl(resumed!, "ready");
    expect(await roundTrip(resumed!, "after")).toBe("after");
  });
});

describe("the machine's end", () => {
  it("is reported on the open tunnel, which then closes, and finishes the worker", async () => {
    const tw = await newWorker();
    const { tunnel, ready } = await startMachine(tw);
    tunnel.sendBinary(Buffer.from("exit:5"));
    expect(await nextControl(tunnel, "exit")).toEqual({ type: "exit", code: 5, signal: null });
    expect((await tunnel.closed).code).toBe(1000);
    await waitUntil("the worker finishes", () => tw.finishedCount() === 1);
    expect(processAlive(ready.pid)).toBe(false);
    expect(tw.worker.phase).toBe("finished");
  });

  it("with no tunnel open, is answered to resumes (410) until the linger passes", async () => {
    const tw = await newWorker({ endedLingerMs: 60_000 });
    const { tunnel, hello, ready, secret } = await startMachine(tw);
    tunnel.close();
    await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    process.kill(ready.pid, "SIGKILL");
    await waitUntil("the worker sees the end", () => tw.worker.phase === "ended");
    expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken), ATTACH_STATUS.ended)).toMatch(/was killed by SIGKILL/);
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/ending after its machine exited/);
    expect(tw.finishedCount()).toBe(0);
    await tw.worker.stop();
    expect(tw.finishedCount()).toBe(1);
  });

  it("finishes the worker after the linger when no driver comes back", async () => {
    const tw = await newWorker({ endedLingerMs: 200 });
    const { tunnel, ready } = await startMachine(tw);
    tunnel.close();
    await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    process.kill(ready.pid, "SIGKILL");
    await waitUntil("the worker finishes after the linger", () => tw.finishedCount() === 1);
  });

  it("comes from stop(): the machine gets SIGTERM and the tunnel hears it", async () => {
    const tw = await newWorker();
    const { tunnel, ready } = await startMachine(tw);
    const stopped = tw.worker.stop();
    expect(await nextControl(tunnel, "exit")).toEqual({ type: "exit", code: null, signal: "SIGTERM" });
    await stopped;
    expect(tw.finishedCount()).toBe(1);
    expect(processAlive(ready.pid)).toBe(false);
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/shutting down|ending/);
  });
});
