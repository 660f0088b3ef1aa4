/**
 * The worker's attach route on a real loopback listener: every refusal status, the fresh attach's
 * handshake and its failures (after each of which the worker serves the next attach), tunnels handed
 * to the machine process, which carries its resumable link over them, resumes (frames continue across
 * tunnels; tokens rotate), and how the machine's end, or the driver's release of it, reaches the
 * tunnel and finishes the worker. The machine is the echo fixture, bundled and shipped as a driver's
 * program is.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isFatal, ResumableLink } from "../../src/core.ts";
import { ATTACH_HEADERS, ATTACH_PATH, ATTACH_STATUS, type ControlMessage } from "../../src/systems/cloudrun/attach-protocol.ts";
import { tunnelLink } from "../../src/systems/cloudrun/control-link.ts";
import type { TunnelSocket } from "../../src/systems/cloudrun/tunnel-socket.ts";
import { attachHeaders, bundleFixture, digestOf, newSecret, processAlive, rawAttach, startTestWorker, type Program, type TestWorker } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

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

/** The driver's end of a machine's resumable link, with the frames and control messages it received. */
class DriverEnd {
  readonly link = new ResumableLink({ label: "test driver" });
  readonly controls: ControlMessage[] = [];
  #frames: Buffer[] = [];
  #wake: (() => void) | undefined;

  /** `endOnFatal`: as the System's machine session does, a fatal close (the machine's end) ends the link. */
  constructor(endOnFatal = true) {
    this.link.onDetach((err) => {
      if (endOnFatal && err !== undefined && isFatal(err)) this.link.fail(err);
    });
    this.link.onFrame((frame) => {
      this.#frames.push(Buffer.from(frame));
      this.#wake?.();
    });
  }

  /** Makes `tunnel` (its `ready` read) the link's carrier. */
  carry(tunnel: TunnelSocket, machineId: string): Promise<void> {
    return this.link.attach(tunnelLink(tunnel, { machineId, onControl: (m) => this.controls.push(m) }));
  }

  send(data: Buffer | string): void {
    this.link.send(typeof data === "string" ? Buffer.from(data) : data);
  }

  async next(): Promise<Buffer> {
    const deadline = Date.now() + STEP_MS;
    while (this.#frames.length === 0) {
      if (Date.now() > deadline) throw new Error("no frame arrived");
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.#frames.shift()!;
  }

  async roundTrip(text: string): Promise<string> {
    this.send(text);
    return (await this.next()).toString("utf8");
  }

  async control<T extends ControlMessage["type"]>(type: T): Promise<Extract<ControlMessage, { type: T }>> {
    await waitUntil(`a ${type} message`, () => this.controls.some((m) => m.type === type), STEP_MS);
    return this.controls.find((m) => m.type === type) as Extract<ControlMessage, { type: T }>;
  }
}

interface MachineInfo {
  pid: number;
  args: string[];
  env: Record<string, string | null>;
  /** Tunnels the machine took so far. */
  tunnels: number;
}

async function info(driver: DriverEnd): Promise<MachineInfo> {
  return JSON.parse(await driver.roundTrip("info")) as MachineInfo;
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

/** A fresh attach that ships the echo program, waits for ready, and carries a driver's end over it. */
async function startMachine(tw: TestWorker, exec: { args?: string[]; env?: Record<string, string> } = {}, driver = new DriverEnd()) {
  const secret = newSecret();
  const tunnel = await open(tw, attachHeaders(tw.deploymentKey, secret));
  const hello = await nextControl(tunnel, "hello");
  tunnel.sendControl({ type: "exec", digest: program.digest, shipped: true, args: exec.args ?? [], env: exec.env ?? {} });
  tunnel.sendBinary(program.code);
  const ready = await nextControl(tunnel, "ready");
  await driver.carry(tunnel, hello.machineId);
  return { tunnel, hello, ready, secret, driver };
}

/** Resumes `machineId` with `token` until the worker upgrades (the old tunnel may still be closing). */
async function resumed(tw: TestWorker, secret: string, machineId: string, token: string): Promise<TunnelSocket> {
  let tunnel: TunnelSocket | undefined;
  await waitUntil("the resume is accepted", async () => {
    tunnel = (await rawAttach(tw.served.url, resumeHeaders(tw, secret, machineId, token))).tunnel;
    return tunnel !== undefined;
  });
  return tunnel!;
}

/** Inodes of the established TCP connections whose local end is `port` on this host (the server's side). */
function establishedTo(port: number): string[] {
  const inodes: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1].split(":").pop()!, 16);
      if (localPort === port && fields[3] === "01") inodes.push(fields[9]);
    }
  }
  return inodes;
}

/** Inodes of the sockets process `pid` has open. */
function socketInodesOf(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir)
    .map((fd) => {
      try {
        return readlinkSync(`${dir}/${fd}`);
      } catch {
        return "";
      }
    })
    .flatMap((target) => /^socket:\[(\d+)\]$/.exec(target)?.[1] ?? []);
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
    expect(await refused(tw, attachHeaders(tw.deploymentKey, secret, { "x-bigmachine-attach": "1" }), ATTACH_STATUS.badRequest)).toMatch(/version "1".*speaks version 2/);
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
  it("runs its program in the spare process the worker booted ahead, with the driver's arguments and environment", async () => {
    const tw = await newWorker();
    const spare = await tw.worker.sparePid();
    expect(spare).toBeGreaterThan(0);
    expect(processAlive(spare!)).toBe(true);
    const { ready, driver } = await startMachine(tw, { args: ["-x"], env: { ECHO_MACHINE_EXTRA: "spare" } });
    expect(ready.pid).toBe(spare);
    expect(await tw.worker.sparePid()).toBeUndefined();
    const machine = await info(driver);
    expect(machine.args).toEqual(["-x"]);
    expect(machine.env.ECHO_MACHINE_EXTRA).toBe("spare");
    expect(machine.env.BIGMACHINE_MODE).toBe("machine");
  });

  it("starts a process of its own when the driver's environment sets what node reads as it starts, and ends the unused spare with the worker", async () => {
    const tw = await newWorker();
    const spare = (await tw.worker.sparePid())!;
    const { ready, driver } = await startMachine(tw, { env: { NODE_OPTIONS: "--max-old-space-size=200" } });
    expect(ready.pid).not.toBe(spare);
    expect((await info(driver)).pid).toBe(ready.pid);
    expect(processAlive(spare)).toBe(true);
    await tw.worker.stop();
    expect(processAlive(spare)).toBe(false);
  });

  it("says hello, takes the shipped program, starts it as a Cloud Run machine and pipes its frames", async () => {
    const tw = await newWorker();
    const { hello, ready, driver } = await startMachine(tw, { args: ["-n", "4"], env: { ECHO_MACHINE_EXTRA: "from the driver", BIGMACHINE_MODE: "driver" } });
    expect(hello).toMatchObject({ type: "hello", instanceId: "test-instance", programs: [] });
    expect(hello.machineId).toMatch(/^m-/);
    expect(hello.resumeToken.length).toBeGreaterThanOrEqual(32);
    // A fresh attach's ready names the hello's token: no resume has happened yet.
    expect(ready).toMatchObject({ type: "ready", machineId: hello.machineId, resumeToken: hello.resumeToken });
    expect(processAlive(ready.pid)).toBe(true);
    expect(tw.worker.phase).toBe("holding");
    expect(tw.cache.digests()).toEqual([program.digest]);

    const machine = await info(driver);
    expect(machine.pid).toBe(ready.pid);
    expect(machine.args).toEqual(["-n", "4"]);
    // The driver's variables arrive; the worker's own settings do not; machine mode cannot be overridden.
    expect(machine.env).toMatchObject({ ECHO_MACHINE_EXTRA: "from the driver", BIGMACHINE_MODE: "machine", BIGMACHINE_SYSTEM: "cloudrun", BIGMACHINE_DEPLOYMENT_KEY: null, PORT: null });

    // Frames pass whole and in order, large ones too.
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    driver.send(big);
    for (const text of ["one", "two", "three"]) driver.send(text);
    expect((await driver.next()).equals(big)).toBe(true);
    for (const text of ["one", "two", "three"]) expect((await driver.next()).toString()).toBe(text);

    driver.send("burst:300:65536");
    for (let i = 0; i < 300; i++) {
      const frame = await driver.next();
      expect(frame.length).toBe(65536);
      expect(frame[0]).toBe((i % 255) + 1);
    }
    expect((await driver.next()).toString()).toBe("burst-done");
    // The driver acknowledged what it got: the worker forgets it.
    await waitUntil("the driver's acknowledgements", () => driver.link.counts.received === 306);

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
    const { driver } = await startMachine(tw);
    expect(await driver.roundTrip("hello again")).toBe("hello again");
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

    const { driver } = await startMachine(tw);
    expect(await driver.roundTrip("still serving")).toBe("still serving");
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
    expect(await attempt((t) => t.sendControl({ type: "ready", machineId: "m-x", pid: 1, resumeToken: "t" }))).toMatchObject({ kind: "invalid", message: expect.stringMatching(/got a ready message/) });
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

    const { driver } = await startMachine(tw);
    expect(await driver.roundTrip("third time")).toBe("third time");
  });

  it("finishes a worker no attach comes to", async () => {
    const tw = await newWorker({ idleExitMs: 200 });
    await waitUntil("the idle worker finishes", () => tw.finishedCount() === 1);
    expect(tw.worker.phase).toBe("finished");
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/shutting down/);
  });
});

describe("the tunnel's connection", () => {
  it("is held by the machine process, not the worker, once the machine is ready, and again after a resume", async () => {
    const tw = await newWorker();
    const { tunnel, hello, ready, secret, driver } = await startMachine(tw);
    expect(await driver.roundTrip("first")).toBe("first");
    const first = establishedTo(tw.served.port);
    expect(first).toHaveLength(1);
    expect(socketInodesOf(ready.pid)).toContain(first[0]);
    expect(socketInodesOf(process.pid)).not.toContain(first[0]);

    tunnel.close();
    await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    const next = await resumed(tw, secret, hello.machineId, hello.resumeToken);
    await nextControl(next, "ready");
    await driver.carry(next, hello.machineId);
    expect(await driver.roundTrip("second")).toBe("second");
    const second = establishedTo(tw.served.port);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect(socketInodesOf(ready.pid)).toContain(second[0]);
    expect(socketInodesOf(process.pid)).not.toContain(second[0]);
  });
});

describe("a resume", () => {
  it("is refused with a wrong token or secret, and continues the link in the same machine process", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret, driver } = await startMachine(tw);
    expect((await info(driver)).tunnels).toBe(1);

    expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, "wrong-token"), ATTACH_STATUS.unauthorized)).toMatch(/wrong resume token/);
    await refused(tw, resumeHeaders(tw, newSecret(), hello.machineId, hello.resumeToken), ATTACH_STATUS.unauthorized);
    expect(await refused(tw, resumeHeaders(tw, secret, "m-another", hello.resumeToken), ATTACH_STATUS.unknownMachine)).toMatch(/does not hold/);

    tunnel.close();
    await tunnel.closed;
    const next = await resumed(tw, secret, hello.machineId, hello.resumeToken);
    const ready = await nextControl(next, "ready");
    expect(ready.machineId).toBe(hello.machineId);
    expect(ready.resumeToken).not.toBe(hello.resumeToken);
    await driver.carry(next, hello.machineId);
    // The machine took the new tunnel itself, and its link outlived the first.
    const machine = await info(driver);
    expect(machine.tunnels).toBe(2);
    expect(machine.pid).toBe(ready.pid);
  });

  it("with the right credentials while the machine still holds a tunnel, replaces that tunnel", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret, driver } = await startMachine(tw, {}, new DriverEnd(false));
    expect(await driver.roundTrip("before")).toBe("before");
    // The driver's end of the first tunnel is gone as far as it knows (say the network went quiet);
    // the machine still holds its end.
    driver.send("burst:20:1000");
    const next = await open(tw, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken));
    const ready = await nextControl(next, "ready");
    expect(ready.machineId).toBe(hello.machineId);
    // The machine closes the tunnel it had; the link goes on over the new one, nothing lost or doubled.
    expect((await tunnel.closed).code).toBe(1000);
    await driver.carry(next, hello.machineId);
    for (let i = 0; i < 20; i++) expect((await driver.next()).equals(Buffer.alloc(1000, (i % 255) + 1))).toBe(true);
    expect((await driver.next()).toString()).toBe("burst-done");
    expect((await info(driver)).tunnels).toBe(2);
  });

  it("delivers frames sent while no tunnel was open, once each and in order, both ways", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret, driver } = await startMachine(tw);
    driver.send("burst:200:1000");
    const first = await driver.next();
    expect(first[0]).toBe(1);
    tunnel.close();
    await tunnel.closed;
    // Sent while detached: queued by the driver's end until the next tunnel.
    driver.send("queued while detached");
    const next = await resumed(tw, secret, hello.machineId, hello.resumeToken);
    await nextControl(next, "ready");
    await driver.carry(next, hello.machineId);
    for (let i = 1; i < 200; i++) expect((await driver.next())[0]).toBe((i % 255) + 1);
    expect((await driver.next()).toString()).toBe("burst-done");
    expect((await driver.next()).toString()).toBe("queued while detached");
  });

  it("rotates the resume token: the one a resume came with works until the driver resumes on the new tunnel, then never", async () => {
    const tw = await newWorker();
    const { tunnel, hello, secret, driver } = await startMachine(tw);
    tunnel.close();
    await tunnel.closed;
    const lose = async (t: TunnelSocket) => {
      t.close();
      await t.closed;
      await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    };
    // A resume whose tunnel drops before the driver's end resumes on it: the driver may have read its
    // `ready` (and resume with the new token) or not (and resume with the old one).
    const first = await resumed(tw, secret, hello.machineId, hello.resumeToken);
    const firstReady = await nextControl(first, "ready");
    await lose(first);
    const second = await resumed(tw, secret, hello.machineId, firstReady.resumeToken);
    const secondReady = await nextControl(second, "ready");
    await lose(second);
    // The driver never read the second `ready`: the token it came with still works.
    const third = await resumed(tw, secret, hello.machineId, firstReady.resumeToken);
    const ready = await nextControl(third, "ready");
    expect(new Set([hello.resumeToken, firstReady.resumeToken, secondReady.resumeToken, ready.resumeToken]).size).toBe(4);
    await driver.carry(third, hello.machineId);
    expect(await driver.roundTrip("on the new tunnel")).toBe("on the new tunnel");
    await lose(third);
    // Once the driver resumed on the new tunnel, every earlier token is refused for good; the latest works.
    for (const old of [hello.resumeToken, firstReady.resumeToken, secondReady.resumeToken]) {
      expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, old), ATTACH_STATUS.unauthorized)).toMatch(/wrong resume token/);
    }
    const latest = await resumed(tw, secret, hello.machineId, ready.resumeToken);
    await nextControl(latest, "ready");
    await driver.carry(latest, hello.machineId);
    expect(await driver.roundTrip("still there")).toBe("still there");
  });

  it("loses its tunnel, not the machine, when the driver sends a control message while frames flow", async () => {
    const tw = await newWorker();
    // This driver resumes whatever the close: the point is that the worker kept the machine.
    const { tunnel, hello, secret, driver } = await startMachine(tw, {}, new DriverEnd(false));
    tunnel.sendControl({ type: "ready", machineId: hello.machineId, pid: 1, resumeToken: "t" });
    await driver.control("failed");
    expect((await tunnel.closed).code).toBe(1008);
    const next = await resumed(tw, secret, hello.machineId, hello.resumeToken);
    await nextControl(next, "ready");
    await driver.carry(next, hello.machineId);
    expect(await driver.roundTrip("after")).toBe("after");
  });
});

describe("the machine's end", () => {
  it("is reported on the open tunnel after the machine's last frames, and finishes the worker", async () => {
    const tw = await newWorker();
    const { ready, driver } = await startMachine(tw);
    driver.send("exit:5");
    expect(await driver.control("exit")).toEqual({ type: "exit", code: 5, signal: null });
    const err = await driver.link.ended;
    expect(err?.message).toMatch(/exited with code 5/);
    await waitUntil("the worker finishes", () => tw.finishedCount() === 1);
    expect(processAlive(ready.pid)).toBe(false);
    expect(tw.worker.phase).toBe("finished");
  });

  it("killed outright with a tunnel open, drops the tunnel, and a resume is told how it ended (410)", async () => {
    const tw = await newWorker({ endedLingerMs: 60_000 });
    const { tunnel, hello, ready, secret } = await startMachine(tw, {}, new DriverEnd(false));
    process.kill(ready.pid, "SIGKILL");
    // The machine held the tunnel's connection: it closes with the process, with nothing said on it.
    const close = await tunnel.closed;
    expect(close.code).toBe(1006);
    await waitUntil("the worker sees the end", () => tw.worker.phase === "ended");
    expect(await refused(tw, resumeHeaders(tw, secret, hello.machineId, hello.resumeToken), ATTACH_STATUS.ended)).toMatch(/was killed by SIGKILL/);
    expect(tw.finishedCount()).toBe(0);
  });

  it("comes when the driver releases the machine: it is stopped and the worker finishes", async () => {
    const tw = await newWorker();
    const { ready, driver } = await startMachine(tw);
    expect(await driver.roundTrip("before")).toBe("before");
    driver.link.close("the driver is done");
    await waitUntil("the worker finishes", () => tw.finishedCount() === 1);
    expect(processAlive(ready.pid)).toBe(false);
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
    const { ready, driver } = await startMachine(tw);
    const stopped = tw.worker.stop();
    expect(await driver.control("exit")).toEqual({ type: "exit", code: null, signal: "SIGTERM" });
    await stopped;
    expect(tw.finishedCount()).toBe(1);
    expect(processAlive(ready.pid)).toBe(false);
    expect(await refused(tw, attachHeaders(tw.deploymentKey, newSecret()), ATTACH_STATUS.busy)).toMatch(/shutting down|ending/);
  });
});
