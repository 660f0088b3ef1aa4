/**
 * The conformance suite: one set of behaviours every system must show, run against each system by a
 * few-line test file (`testsystem.test.ts`, `local.test.ts`, `cloudrun.test.ts`).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BigmachineError, isKind, type Machine, type Session, type StartOptions } from "../../src/index.ts";
import { Counter, Echo, Relay } from "../fixtures/services.ts";
import { rejection, waitUntil } from "../helpers.ts";

/** What a system's test file provides to the suite. */
export interface ConformanceHarness {
  /** Starts a new driver session on the system under test, with the given start options. */
  newSession(options?: Pick<StartOptions, "errorStacks">): Promise<Session>;
  /** Kills a machine as abruptly as the system allows (its process, or its in-process server). */
  kill(session: Session, machine: Machine): Promise<void> | void;
  /** Releases whatever the harness holds (emulators, temp dirs); sessions are shut down by the suite. */
  cleanup?(): Promise<void>;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* numbers(n: number): AsyncGenerator<number> {
  for (let i = 1; i <= n; i++) yield i;
}

/** Registers the conformance tests for one system. */
export function runConformance(name: string, makeHarness: () => Promise<ConformanceHarness>): void {
  describe(`${name}: conformance`, () => {
    let harness: ConformanceHarness;
    let session: Session;
    let a: Machine;
    let b: Machine;

    beforeAll(async () => {
      harness = await makeHarness();
      session = await harness.newSession();
      const counter = Object.assign(new Counter(), { count: 5, label: "travelled" });
      [a, b] = await session.startMachines(2, {
        services: { Echo: new Echo(), Counter: counter, Relay: new Relay() },
        env: { CONFORMANCE_ENV: "set" },
        args: ["--alpha", "beta"],
      });
      await Promise.all([a.waitFor("running"), b.waitFor("running")]);
    });

    afterAll(async () => {
      await session?.shutdown();
      await harness?.cleanup?.();
    });

    it("starts machines that report themselves", async () => {
      expect(a.state).toBe("running");
      expect(a.addr).not.toBe(b.addr);
      expect(a.maxprocs).toBeGreaterThan(0);
      const info = await a.info();
      expect(info.runtime).toBe("node");
      expect(info.services.sort()).toEqual(["Counter", "Echo", "Relay", "Supervisor"]);
      expect(session.machines()).toEqual([a, b]);
    });

    it("round-trips values untyped and through the typed client", async () => {
      const value = { m: new Map([["k", 1n]]), d: new Date(1_000), f: new Float64Array([1.5, 2.5]), s: "x", n: null };
      expect(await a.call("Echo.echo", value)).toEqual(value);
      expect(await a.service<Echo>("Echo").echo([1, "two", { three: 3 }])).toEqual([1, "two", { three: 3 }]);
    });

    it("installs service state, runs init, and keeps state across calls", async () => {
      const counter = a.service<Counter>("Counter");
      expect(await counter.state()).toEqual({ count: 5, label: "travelled", initialized: true });
      expect(await counter.incr(2)).toBe(7);
      expect(await counter.incr()).toBe(8);
      expect(await b.service<Counter>("Counter").state()).toMatchObject({ count: 5 });
    });

    it("sets the machine's environment and arguments", async () => {
      expect(await a.service<Echo>("Echo").env("CONFORMANCE_ENV")).toBe("set");
      expect(await a.service<Echo>("Echo").args()).toEqual(["--alpha", "beta"]);
    });

    it("streams replies and arguments", async () => {
      const echo = a.service<Echo>("Echo");
      expect(await collect(await echo.count(200))).toEqual([...Array(200).keys()]);
      expect(await echo.sum(numbers(100))).toBe(5050);
      const chunks = await collect(await echo.bytes({ chunks: 32, size: 64 * 1024 }));
      expect(chunks.length).toBe(32);
      expect(chunks.every((c, i) => c.byteLength === 64 * 1024 && c[0] === i)).toBe(true);
    });

    it("fails a stream that fails midway, after the items before it", async () => {
      const stream = await a.service<Echo>("Echo").failMidway({ after: 3, message: "broke at three" });
      const seen: number[] = [];
      const err = await rejection((async () => { for await (const v of stream) seen.push(v); })());
      expect(seen).toEqual([0, 1, 2]);
      expect(err.kind).toBe("remote");
      expect(isKind(err, "invalid")).toBe(true);
      expect(err.message).toContain("broke at three");
    });

    it("reports unknown services and methods as remote not-exist errors", async () => {
      const noService = await rejection(a.call("Nope.echo", 1));
      expect(noService.kind).toBe("remote");
      expect(isKind(noService, "not-exist")).toBe(true);
      expect(noService.message).toMatch(/unknown service Nope/);
      const noMethod = await rejection(a.call("Echo.nope", 1));
      expect(isKind(noMethod, "not-exist")).toBe(true);
      expect(noMethod.message).toMatch(/unknown method Echo.nope/);
      // Object.prototype members and hidden methods are not callable.
      expect(isKind(await rejection(a.call("Echo.toString")), "not-exist")).toBe(true);
      expect(isKind(await rejection(a.call("Counter.init")), "not-exist")).toBe(true);
    });

    it("delivers a method's thrown error with its message and kind, never as a network error", async () => {
      const err = await rejection(a.service<Echo>("Echo").fail({ message: "bad input here", kind: "invalid", severity: "fatal" }));
      expect(err.kind).toBe("remote");
      expect(isKind(err, "invalid")).toBe(true);
      expect(isKind(err, "net")).toBe(false);
      expect(err.severity).toBe("fatal");
      expect(err.message).toContain("bad input here");
      const plain = await rejection(a.service<Echo>("Echo").throwPlain("plain type error"));
      expect(plain.kind).toBe("remote");
      expect(plain.message).toContain("plain type error");
      const remoteNet = await rejection(a.service<Echo>("Echo").fail({ message: "far side network", kind: "net" }));
      expect(remoteNet.kind).toBe("remote");
    });

    it("keeps a method's stack on the machine, in its log, and sends the error without it", async () => {
      const err = await rejection(a.service<Echo>("Echo").throwPlain("a failure whose stack stays home"));
      const cause = err.cause as Error;
      expect(cause.message).toBe("a failure whose stack stays home");
      expect(cause.stack ?? "").not.toMatch(/throwPlain/);
      const signal = AbortSignal.timeout(10_000);
      const logged = /Echo\.throwPlain failed: TypeError: a failure whose stack stays home\n\s*at Echo\.throwPlain/;
      let text = "";
      for await (const line of a.tail(signal)) {
        text += `${line.text}\n`;
        if (logged.test(text)) break;
      }
      expect(text).toMatch(logged);
    });

    it("sends stacks with error replies to a session that asks for them", async () => {
      const asking = await harness.newSession({ errorStacks: true });
      try {
        const [m] = await asking.startMachines(1, { services: { Echo: new Echo() } });
        const err = await rejection(m.service<Echo>("Echo").throwPlain("a failure with its stack"));
        expect((err.cause as Error).stack).toMatch(/TypeError: a failure with its stack\n[\s\S]*at Echo\.throwPlain/);
        const nested = await rejection(m.service<Echo>("Echo").fail({ message: "kind and stack", kind: "invalid" }));
        expect((nested.cause as Error).stack).toMatch(/at Echo\.fail/);
      } finally {
        await asking.shutdown();
      }
    });

    it("retries temporary errors with retryCall", async () => {
      const once = await rejection(a.call("Counter.flaky", { key: "once", failures: 1 }));
      expect(once.temporary).toBe(true);
      expect(await a.retryCall("Counter.flaky", { key: "twice", failures: 2 }, { initialBackoffMs: 5 })).toBe("ok");
      const exhausted = await rejection(a.retryCall("Counter.flaky", { key: "many", failures: 10 }, { retries: 2, initialBackoffMs: 5 }));
      expect(exhausted.message).toContain("flaky many");
      const counter = a.service<Counter>("Counter");
      // Temporary errors are retried `retries` times after the first attempt...
      const temporary = await rejection(a.retryCall("Counter.failing", { key: "temporary", severity: "temporary" }, { retries: 2, initialBackoffMs: 5 }));
      expect(temporary.message).toContain("attempt 3");
      expect(await counter.attempts("temporary")).toBe(3);
      // ...fatal ones are not retried at all.
      const fatal = await rejection(a.retryCall("Counter.failing", { key: "fatal", severity: "fatal" }, { initialBackoffMs: 5 }));
      expect(fatal.severity).toBe("fatal");
      expect(await counter.attempts("fatal")).toBe(1);
    });

    it("cancels a call and times one out", async () => {
      const controller = new AbortController();
      const pending = a.service<Echo>("Echo").wait({ ms: 60_000 }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      expect((await rejection(pending)).kind).toBe("canceled");
      expect((await rejection(a.service<Echo>("Echo").wait({ ms: 60_000 }, { timeoutMs: 30 }))).kind).toBe("timeout");
      expect(await a.service<Echo>("Echo").echo("still serving")).toBe("still serving");
    });

    it("settles every wait and call given a signal that has already aborted", async () => {
      const aborted = AbortSignal.abort(new Error("gave up"));
      const launched = session.machines().length;
      expect((await rejection(session.startMachines(1, { services: { Echo: new Echo() }, signal: aborted }))).kind).toBe("canceled");
      expect(session.machines().length).toBe(launched);
      expect((await rejection(a.waitFor("stopped", aborted))).kind).toBe("canceled");
      expect((await rejection(a.call("Echo.echo", 1, { signal: aborted }))).kind).toBe("canceled");
      expect((await rejection(a.retryCall("Echo.echo", 1, { signal: aborted, initialBackoffMs: 5 }))).kind).toBe("canceled");
      expect((await rejection(a.service<Echo>("Echo").wait({ ms: 60_000 }, { signal: aborted }))).kind).toBe("canceled");
      expect(await collect(a.tail(aborted))).toEqual([]);
      expect((await rejection(collect(a.read(fileURLToPath(import.meta.url), aborted)))).kind).toBe("canceled");
      expect((await rejection(session.system.httpClient().connect(a.addr, { signal: aborted }))).kind).toBe("canceled");
      expect(a.state).toBe("running");
    });

    it("stops waiting when the signal aborts, for a machine still starting too", async () => {
      const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
      const controller = new AbortController();
      const waiting = [m.waitFor("stopped", controller.signal), a.waitFor("stopped", controller.signal)];
      if (m.state !== "running") waiting.push(m.waitFor("running", controller.signal));
      controller.abort();
      for (const w of waiting) expect((await rejection(w)).kind).toBe("canceled");
      await m.waitFor("running");
      m.cancel();
      // A retry loop waiting out its backoff ends too.
      const retrying = new AbortController();
      const retry = a.retryCall("Counter.failing", { key: "aborted backoff", severity: "temporary" }, { signal: retrying.signal, initialBackoffMs: 60_000 });
      await waitUntil("the first attempt to fail", async () => (await a.service<Counter>("Counter").attempts("aborted backoff")) === 1);
      retrying.abort();
      const err = await rejection(retry);
      expect(err.kind).toBe("canceled");
      expect(err.message).toContain("failing aborted backoff: attempt 1");
    });

    it("lets a machine dial another machine by address", async () => {
      expect(await a.service<Relay>("Relay").relay({ addr: b.addr, value: "via a" })).toEqual({ from: b.addr, value: "via a" });
      expect(session.dial(a.addr)).toBe(a);
    });

    it("keeps machines alive with periodic keepalives, beyond the one at startup", async () => {
      // A fresh machine: its replies so far are the startup keepalive and whatever period has passed.
      const [m] = await session.startMachines(1);
      await m.waitFor("running");
      await waitUntil("two periodic keepalives after the startup one", () => m.keepaliveReplyTimes().length >= 3);
      expect(m.keepaliveReplyTimes().every((ms) => ms >= 0)).toBe(true);
      expect(m.nextKeepalive).toBeGreaterThan(0);
      m.cancel();
    });

    it("reports on machines", async () => {
      expect(a.nextKeepalive).toBeGreaterThan(0);
      expect(a.healthy).toBe(true);
      const mem = await a.memInfo();
      expect(mem.total).toBeGreaterThan(0);
      expect((await a.diskInfo()).total).toBeGreaterThan(0);
      expect((await a.loadInfo()).cpus).toBeGreaterThan(0);
      const metrics = await a.metrics();
      expect(Object.keys(metrics.rpc as object)).toContain("Echo.echo");
      expect(a.stats()["Echo.echo"].count).toBeGreaterThan(0);
      const profile = (await a.cpuProfile(50)) as { nodes?: unknown[] };
      expect(Array.isArray(profile.nodes)).toBe(true);
    });

    it("cancels a machine: pending and later calls fail", async () => {
      const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
      await m.waitFor("running");
      const pending = m.service<Echo>("Echo").wait({ ms: 60_000 });
      await new Promise((r) => setTimeout(r, 20));
      m.cancel();
      expect((await rejection(pending)).kind).toBe("canceled");
      expect(m.state).toBe("stopped");
      expect(m.err?.kind).toBe("canceled");
      expect((await rejection(m.call("Echo.echo", 1))).kind).toBe("canceled");
    });

    it("stops a killed machine with an error and rejects its pending calls", async () => {
      const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
      await m.waitFor("running");
      const pending = m.service<Echo>("Echo").wait({ ms: 60_000 });
      await new Promise((r) => setTimeout(r, 20));
      await harness.kill(session, m);
      const err = await rejection(pending);
      expect(err.severity).toBe("fatal");
      await m.waitFor("stopped");
      expect(m.err).toBeInstanceOf(BigmachineError);
      expect(m.err?.kind).toBe("unavailable");
      await rejection(m.call("Echo.echo", 1));
      // The other machines are unaffected.
      expect(await a.call("Echo.echo", "alive")).toBe("alive");
    });

    it("shuts a session down: machines stop and calls are refused", async () => {
      const other = await harness.newSession();
      const [m] = await other.startMachines(1, { services: { Echo: new Echo() } });
      expect(await m.call("Echo.echo", 1)).toBe(1);
      await other.shutdown();
      expect(m.state).toBe("stopped");
      expect((await rejection(m.call("Echo.echo", 1))).kind).toBe("canceled");
      await expect(other.startMachines(1)).rejects.toThrow(/shut down/);
    });
  });
}
