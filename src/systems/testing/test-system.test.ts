import { afterEach, describe, expect, it } from "vitest";
import { isKind, registerService, Session, start, type ServiceContext } from "../../index.ts";
import { rejection, waitUntil } from "../../../test/helpers.ts";
import { TestSystem } from "./index.ts";

class Ticker {
  n = 0;
  tick(): number {
    return ++this.n;
  }

  /** Answers only when its call is canceled: a call that is surely in flight. */
  async hold(_arg: undefined, ctx: ServiceContext): Promise<never> {
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    throw ctx.signal.reason;
  }
}
registerService("Ticker", Ticker);

let session: Session | undefined;
afterEach(async () => {
  await session?.shutdown({ drainMs: 100 });
  session = undefined;
});

async function startOn(system: TestSystem, n: number) {
  session = await start({ system });
  const machines = await session.startMachines(n, { services: { Ticker: new Ticker() } });
  await Promise.all(machines.map((m) => m.waitFor("running")));
  return machines;
}

describe("TestSystem", () => {
  it("counts machines and waits for them", async () => {
    const system = new TestSystem();
    const waiting = system.waitFor(3);
    const machines = await startOn(system, 3);
    await waiting;
    expect(system.n()).toBe(3);
    expect(system.machines()).toEqual(machines);
    system.kill(machines[0]);
    expect(system.n()).toBe(2);
  });

  it("reconnects a machine whose tunnel was dropped, keeping its state", async () => {
    const system = new TestSystem();
    const [m] = await startOn(system, 1);
    expect(await m.call("Ticker.tick")).toBe(1);
    const pending = m.service<Ticker>("Ticker").hold();
    await waitUntil("the call to be served", () => [...system.endpointOf(m).server.peers].some((peer) => peer.load.serving > 0));
    system.drop(m);
    // The call in flight when the tunnel dropped fails as a temporary network error...
    const err = await rejection(pending);
    expect(err.kind).toBe("net");
    expect(err.temporary).toBe(true);
    // ...and later calls go through a new tunnel to the same machine.
    expect(await m.retryCall("Ticker.tick", undefined, { initialBackoffMs: 5 })).toBeGreaterThanOrEqual(2);
    expect(m.state).toBe("running");
    expect(system.endpointOf(m).server.peers.size).toBe(1);
  });

  it("declares a machine lost when keepalives stop answering within the timeout", async () => {
    const system = new TestSystem({ keepalive: { periodMs: 20, timeoutMs: 300, rpcTimeoutMs: 50 } });
    const [m] = await startOn(system, 1);
    system.delay(m, 10_000);
    system.drop(m); // new tunnels are slow: every keepalive times out
    await m.waitFor("stopped");
    expect(m.err?.kind).toBe("unavailable");
    expect(m.err?.message).toMatch(/lost: no keepalive/);
    expect(system.events.some((e) => e.type === "keepaliveFailed" && e.fields.machine === m.addr)).toBe(true);
  });

  it("ends a machine whose driver stops sending keepalives (the watchdog)", async () => {
    const system = new TestSystem({ keepalive: { periodMs: 20, timeoutMs: 200, rpcTimeoutMs: 100 } });
    const [m] = await startOn(system, 1);
    m.cancel(); // the driver side goes quiet, as if it crashed
    const deadline = Date.now() + 5_000;
    while (system.n() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(system.n()).toBe(0);
    const lines = [];
    for await (const line of system.tail(m)) lines.push(line.text);
    expect(lines.join("\n")).toMatch(/no keepalive/);
  });

  it("serves the HTTP face with the session secret", async () => {
    const system = new TestSystem();
    const [m] = await startOn(system, 1);
    const res = await system.httpClient().fetch(m.addr, "/bigrpc/Ticker.tick", { method: "POST" });
    expect(res.status).toBe(200);
  });

  it("reads host files and reports missing ones", async () => {
    const system = new TestSystem();
    const [m] = await startOn(system, 1);
    let bytes = 0;
    for await (const chunk of m.read(new URL(import.meta.url).pathname)) bytes += chunk.byteLength;
    expect(bytes).toBeGreaterThan(100);
    const err = await (async () => { for await (const _ of m.read("/nonexistent/file")) void _; })().catch((e) => e);
    expect(isKind(err, "not-exist")).toBe(true);
  });
});
