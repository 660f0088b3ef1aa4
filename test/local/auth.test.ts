/**
 * The machine's front door: requests and tunnels without the session secret get 401 and run nothing;
 * bad bodies and bad frames get clear errors, and the machine keeps serving. The secret itself reaches
 * the machine over its IPC channel, so neither its environment nor its command line holds it.
 */
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type LocalSystem, type Machine, type Session } from "../../src/index.ts";
import { ATTACH_PATH, connectWebSocket, decode, encode, MSGPACK_CONTENT_TYPE, SECRET_HEADER, type WireError } from "../../src/system-api.ts";
import { Counter } from "../fixtures/services.ts";
import { sessionSecret, testLocalSystem } from "./helpers.ts";

/** A plain POST to the machine, with exactly the headers given (no secret added). */
async function post(addr: string, method: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; error?: WireError }> {
  const response = await fetch(`http://${addr}/bigrpc/${method}`, { method: "POST", body, headers: { "content-type": MSGPACK_CONTENT_TYPE, ...headers } });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, error: response.ok ? undefined : (decode(bytes) as WireError) };
}

describe("local machine authentication and bad input", () => {
  let system: LocalSystem;
  let session: Session;
  let m: Machine;

  beforeAll(async () => {
    system = testLocalSystem();
    session = await start({ system });
    [m] = await session.startMachines(1, { services: { Counter: new Counter() } });
    await m.waitFor("running");
  });

  afterAll(async () => {
    await session?.shutdown();
  });

  it("answers 401 to plain calls without the secret or with a wrong one, and runs nothing", async () => {
    const credentials: Record<string, string>[] = [{}, { [SECRET_HEADER]: "not-the-secret" }, { [SECRET_HEADER]: "" }];
    for (const headers of credentials) {
      const ping = await post(m.addr, "Supervisor.ping", encode(1), headers);
      expect(ping.status).toBe(401);
      expect(ping.error?.kind).toBe("unauthorized");
      expect((await post(m.addr, "Counter.incr", encode(100), headers)).status).toBe(401);
    }
    expect(await m.service<Counter>("Counter").state()).toMatchObject({ count: 0 });
  });

  it("serves plain calls that carry the secret, through the system's client", async () => {
    const response = await system.httpClient().fetch(m.addr, "/bigrpc/Counter.incr", { method: "POST", body: encode(2), headers: { "content-type": MSGPACK_CONTENT_TYPE } });
    expect(response.status).toBe(200);
    expect(decode(new Uint8Array(await response.arrayBuffer()))).toBe(2);
  });

  it("refuses the attach upgrade without the right secret", async () => {
    const url = `ws://${m.addr}${ATTACH_PATH}`;
    await expect(connectWebSocket(url)).rejects.toMatchObject({ kind: "unauthorized" });
    await expect(connectWebSocket(url, { headers: { [SECRET_HEADER]: "not-the-secret" } })).rejects.toMatchObject({ kind: "unauthorized" });
  });

  it("answers a malformed body with 400 and a clear error, and keeps serving", async () => {
    const secret = await sessionSecret(system);
    // 0xc1 is the one byte MessagePack never uses.
    const bad = await post(m.addr, "Counter.incr", new Uint8Array([0xc1, 0xc1, 0xc1]), { [SECRET_HEADER]: secret });
    expect(bad.status).toBe(400);
    expect(bad.error?.kind).toBe("invalid");
    expect(bad.error?.message).toMatch(/body of Counter\.incr/);
    expect(await m.service<Counter>("Counter").incr(1)).toBe(3);
  });

  it("answers an oversized body with 413 before reading it, and keeps serving", async () => {
    const secret = await sessionSecret(system);
    const { port } = new URL(`http://${m.addr}`);
    const status = await new Promise<number>((resolve, reject) => {
      // Declares 1 GiB and sends none of it: the machine must refuse from the header alone.
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/bigrpc/Counter.incr", headers: { "content-length": String(2 ** 30), [SECRET_HEADER]: secret } });
      req.on("response", (res) => {
        res.resume();
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
    expect(await m.service<Counter>("Counter").incr(1)).toBe(4);
  });

  it.runIf(existsSync("/proc/self/environ"))("keeps the session secret out of the machine's environment and command line", async () => {
    const secret = await sessionSecret(system);
    const pid = system.pidOf(m)!;
    // What any process of the machine's user (a service's subprocess among them) can read.
    for (const file of ["environ", "cmdline"]) expect(readFileSync(`/proc/${pid}/${file}`, "latin1"), file).not.toContain(secret);
  });

  it("ends a tunnel that sends a malformed frame, and keeps serving others", async () => {
    const link = await system.httpClient().connect(m.addr);
    const closed = new Promise<void>((resolve) => link.onClose(() => resolve()));
    link.onFrame(() => {});
    link.send(new Uint8Array([0x7f, 0, 0, 0, 1, 9, 9]));
    await closed;
    expect(await m.service<Counter>("Counter").incr(1)).toBe(5);
  });
});
