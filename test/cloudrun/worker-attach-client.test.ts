/**
 * The driver's attach client against an in-process worker on loopback: the handshake (shipping the
 * program only when the instance lacks it), the link it yields, resumes, refusals and failures as typed
 * errors, the machine's exit reported beside the frames, and its deadline and cancellation.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { BigmachineError, isFatal, isTemporary, ResumableLink } from "../../src/core.ts";
import { attach, attachUrl, cookieOf, refusalError, resume } from "../../src/systems/cloudrun/attach-client.ts";
import { sessionProof, type ControlMessage } from "../../src/systems/cloudrun/attach-protocol.ts";
import type { TunnelLink } from "../../src/systems/cloudrun/control-link.ts";
import { bundleFixture, newSecret, startTestWorker, type Program, type TestWorker } from "./helpers.ts";
import { rejection, waitUntil } from "../helpers.ts";

let program: Program;
const workers: TestWorker[] = [];
const servers: Server[] = [];
/** The upgraded sockets of silent servers, which must end before their servers can close. */
const silentSockets: WebSocketServer[] = [];

beforeAll(async () => {
  program = await bundleFixture("echo-machine.ts");
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  for (const wss of silentSockets.splice(0)) for (const ws of wss.clients) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function newWorker(options: Parameters<typeof startTestWorker>[0] = {}): Promise<TestWorker> {
  const tw = await startTestWorker(options);
  workers.push(tw);
  return tw;
}

function credentials(tw: TestWorker, secret = newSecret()) {
  return { idToken: "not checked without a front end", secret, proof: sessionProof(tw.deploymentKey, secret) };
}

/**
 * The frames of the machine's resumable link carried over `link`, and a way to send one and await the
 * next. `session` continues an earlier link over a new tunnel.
 */
function frames(link: TunnelLink, session = new ResumableLink({ label: "test driver" })) {
  const got: Buffer[] = [];
  session.onFrame((frame) => got.push(Buffer.from(frame)));
  void session.attach(link).catch(() => {});
  return {
    got,
    session,
    async roundTrip(text: string): Promise<string> {
      const before = got.length;
      session.send(Buffer.from(text));
      await waitUntil(`the answer to ${text}`, () => got.length > before);
      return got[before].toString("utf8");
    },
  };
}

/** A loopback server that upgrades the attach route and then says nothing. */
async function silentServer(): Promise<string> {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  servers.push(server);
  silentSockets.push(wss);
  server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("attach", () => {
  it("ships the program to an instance that lacks it, and yields a link carrying the frames", async () => {
    const tw = await newWorker();
    const attached = await attach(tw.served.url, { ...credentials(tw), program, args: ["a"], env: { ECHO_MACHINE_EXTRA: "x" } });
    expect(attached.shipped).toBe(true);
    expect(attached.hello).toMatchObject({ instanceId: "test-instance", programs: [] });
    expect(attached.ready.machineId).toBe(attached.hello.machineId);
    expect(attached.cookie).toBeUndefined();
    const link = frames(attached.link);
    const info = JSON.parse(await link.roundTrip("info")) as { args: string[]; env: Record<string, string> };
    expect(info.args).toEqual(["a"]);
    expect(info.env.ECHO_MACHINE_EXTRA).toBe("x");
    expect(await link.roundTrip("echo me")).toBe("echo me");
  });

  it("does not ship a program the instance holds, and does not even read it", async () => {
    const tw = await newWorker();
    await tw.cache.put(program.code, program.digest);
    let reads = 0;
    const attached = await attach(tw.served.url, {
      ...credentials(tw),
      program: { digest: program.digest, code: () => (reads++, program.code) },
    });
    expect(attached.shipped).toBe(false);
    expect(attached.hello.programs).toEqual([program.digest]);
    expect(reads).toBe(0);
    expect(await frames(attached.link).roundTrip("held")).toBe("held");
  });

  it("reports the machine's exit to onControl and as the link's close error, never as a frame", async () => {
    const tw = await newWorker();
    const controls: ControlMessage[] = [];
    const attached = await attach(tw.served.url, { ...credentials(tw), program, onControl: (m) => controls.push(m) });
    const link = frames(attached.link);
    const closed = new Promise<Error | undefined>((resolve) => attached.link.onClose(resolve));
    link.session.send(Buffer.from("exit:9"));
    const err = await closed;
    expect(err).toBeInstanceOf(BigmachineError);
    expect((err as BigmachineError).kind).toBe("unavailable");
    expect(isFatal(err)).toBe(true);
    expect(err!.message).toMatch(new RegExp(`machine ${attached.hello.machineId} exited with code 9`));
    expect(controls).toEqual([{ type: "exit", code: 9, signal: null }]);
    expect(attached.link.exit).toEqual({ type: "exit", code: 9, signal: null });
    expect(link.got).toEqual([]);
  });

  it("turns a machine that cannot start into the worker's typed failure", async () => {
    const tw = await newWorker();
    const err = await rejection(attach(tw.served.url, { ...credentials(tw), program, env: { ECHO_MACHINE_CRASH: "4" } }));
    expect(err.kind).toBe("unavailable");
    expect(isFatal(err)).toBe(true);
    expect(err.message).toMatch(/could not start the machine: .*exited with code 4/);
    await waitUntil("the worker is idle again", () => tw.worker.phase === "idle");
  });

  it("turns refusals into typed errors: a wrong proof is fatal, a busy instance temporary", async () => {
    const tw = await newWorker();
    const wrong = await rejection(attach(tw.served.url, { ...credentials(tw), proof: sessionProof("some other deployment key of enough length", newSecret()), program }));
    expect(wrong.kind).toBe("unauthorized");
    expect(isFatal(wrong)).toBe(true);
    expect(wrong.message).toMatch(/refused by the worker with HTTP 401/);

    await attach(tw.served.url, { ...credentials(tw), program });
    const busy = await rejection(attach(tw.served.url, { ...credentials(tw), program }));
    expect(busy.kind).toBe("unavailable");
    expect(isTemporary(busy)).toBe(true);
    expect(busy.message).toMatch(/HTTP 409: this instance already holds a machine/);
  });

  it("fails with kind net when nothing listens, timeout when the worker stays silent, canceled when aborted", async () => {
    const tw = await newWorker();
    const url = tw.served.url;
    await tw.close();
    workers.splice(workers.indexOf(tw), 1);
    const refused = await rejection(attach(url, { ...credentials(tw), program }));
    expect(refused.kind).toBe("net");
    expect(isTemporary(refused)).toBe(true);

    const silent = await silentServer();
    const timedOut = await rejection(attach(silent, { ...credentials(tw), program, timeoutMs: 300 }));
    expect(timedOut.kind).toBe("timeout");
    expect(timedOut.message).toMatch(/hello/);

    const controller = new AbortController();
    const pending = attach(silent, { ...credentials(tw), program, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const canceled = await rejection(pending);
    expect(canceled.kind).toBe("canceled");
    expect(isFatal(canceled)).toBe(true);
  });
});

describe("resume", () => {
  it("reaches the held machine again over a new tunnel; refusals say whether to retry", async () => {
    const tw = await newWorker({ endedLingerMs: 60_000 });
    const creds = credentials(tw);
    const attached = await attach(tw.served.url, { ...creds, program });
    const { machineId, resumeToken } = attached.hello;

    const elsewhere = await rejection(resume(tw.served.url, { ...creds, machineId: "m-not-here", resumeToken }));
    expect(elsewhere.kind).toBe("unavailable");
    expect(isTemporary(elsewhere)).toBe(true);
    const wrongToken = await rejection(resume(tw.served.url, { ...creds, machineId, resumeToken: "not the token" }));
    expect(wrongToken.kind).toBe("unauthorized");

    const first = frames(attached.link);
    expect(await first.roundTrip("before")).toBe("before");
    first.session.detach("rotating");
    await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    const resumed = await resume(tw.served.url, { ...creds, machineId, resumeToken });
    expect(resumed.ready).toMatchObject({ machineId, pid: attached.ready.pid });
    expect(resumed.ready.resumeToken).not.toBe(resumeToken);
    // The same link goes on over the new tunnel, which the machine took as it took the first.
    const info = JSON.parse(await frames(resumed.link, first.session).roundTrip("info")) as { tunnels: number };
    expect(info.tunnels).toBe(2);

    // Once the machine has ended with no tunnel open, a resume is told so, for good.
    first.session.detach("leaving");
    await waitUntil("the worker sees the tunnel close", () => !tw.worker.attached);
    process.kill(attached.ready.pid, "SIGKILL");
    await waitUntil("the worker sees the end", () => tw.worker.phase === "ended");
    const ended = await rejection(resume(tw.served.url, { ...creds, machineId, resumeToken: resumed.ready.resumeToken }));
    expect(ended.kind).toBe("unavailable");
    expect(isFatal(ended)).toBe(true);
    expect(ended.message).toMatch(/HTTP 410: .*was killed by SIGKILL/);
  });
});

describe("attach client helpers", () => {
  it("map refusal statuses to kinds and severities", () => {
    const cases: [number, string | undefined, string, "fatal" | "temporary"][] = [
      [401, undefined, "unauthorized", "fatal"],
      [403, undefined, "unauthorized", "fatal"],
      [400, "version", "invalid", "fatal"],
      [404, "not held", "unavailable", "temporary"],
      [404, undefined, "not-exist", "fatal"],
      [409, "busy", "unavailable", "temporary"],
      [410, "ended", "unavailable", "fatal"],
      [429, undefined, "unavailable", "temporary"],
      [503, undefined, "unavailable", "temporary"],
      [502, undefined, "net", "temporary"],
    ];
    for (const [status, reason, kind, severity] of cases) {
      const err = refusalError("http://127.0.0.1:1", status, reason, "body text");
      expect([status, err.kind, err.severity]).toEqual([status, kind, severity]);
      expect(err.message).toContain(`HTTP ${status}: ${reason ?? "body text"}`);
    }
  });

  it("build the attach URL and the cookie header", () => {
    expect(attachUrl("https://svc-abc-uc.a.run.app")).toBe("wss://svc-abc-uc.a.run.app/bigrpc/attach");
    expect(attachUrl("http://127.0.0.1:8080/")).toBe("ws://127.0.0.1:8080/bigrpc/attach");
    expect(() => attachUrl("ftp://example")).toThrow(/http or https/);
    expect(() => attachUrl("not a url")).toThrow(/not a service URL/);
    expect(cookieOf(["GAESA=abc; Path=/; HttpOnly", "other=1"])).toBe("GAESA=abc; other=1");
    expect(cookieOf(undefined)).toBeUndefined();
  });
});
