/**
 * The pool's scheduling rules on fake instances (no processes): placement, the queue and its errors,
 * cold starts that fail, revision rolls, min instances and idle reclaim.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { RevisionConfig } from "./config.ts";
import type { Instance, InstanceState } from "./instance.ts";
import { InstancePool, PoolClosedError, QueueTimeoutError, StartFailedError, type Lease, type Revision } from "./pool.ts";
import { waitUntil } from "../../../test/helpers.ts";

/** Stands in for an Instance: its start is settled by the test, its stop is immediate. */
class FakeInstance {
  static count = 0;
  readonly id = `i${++FakeInstance.count}`;
  state: InstanceState = "starting";
  inFlight = 0;
  retiring = false;
  lastAssigned = 0;
  idleTimer: NodeJS.Timeout | undefined;
  startupMs: number | undefined;
  port = 0;
  readonly sockets = new Set();
  exit: { code: null; signal: null; reason: string; planned: boolean } | undefined;
  stopReasons: string[] = [];
  #settle!: { resolve(): void; reject(e: Error): void };
  readonly #started = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));

  constructor(
    readonly revision: string,
    readonly reason: string,
    readonly onExit: (i: Instance) => void,
  ) {}

  start(): Promise<void> {
    return this.#started;
  }
  /** The process now listens. */
  ready(): void {
    this.state = "ready";
    this.#settle.resolve();
  }
  /** The process failed to start. */
  fail(message = "exited with code 3"): void {
    this.#settle.reject(new Error(message));
  }
  async stop(reason: string): Promise<void> {
    if (this.state === "stopped") return;
    this.stopReasons.push(reason);
    // Like a real instance, one stopped while starting fails its start.
    if (this.state === "starting") this.#settle.reject(new Error(`stopped while starting: ${reason}`));
    this.state = "stopped";
    this.exit = { code: null, signal: null, reason, planned: reason !== "crashed" };
    this.onExit(this as unknown as Instance);
  }
  /** The process dies on its own. */
  crash(): void {
    void this.stop("crashed");
  }
}

function revision(name: string, settings: Partial<RevisionConfig> = {}): Revision {
  const config = {
    serviceName: "projects/p/locations/l/services/s",
    serviceId: "s",
    image: "img",
    command: [],
    args: [],
    env: {},
    concurrency: 1,
    minInstances: 0,
    maxInstances: 10,
    timeoutMs: 60_000,
    sessionAffinity: false,
    customAudiences: [],
    ingressNone: false,
    invokerIamDisabled: false,
    memoryLimitBytes: 512 * 1024 * 1024,
    ...settings,
  } satisfies RevisionConfig;
  return { name, config, argv: ["container"], imageEnv: {} };
}

let pool: InstancePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/** A pool whose instances are fakes the test controls; `timings` in ms. */
function fakePool(
  timings: { idleMs?: number; queueMs?: number | "cloud-run"; maxQueueMs?: number; randomReclaimMs?: () => number | undefined } = {},
) {
  const created: FakeInstance[] = [];
  pool = new InstancePool({
    createInstance: (rev, reason, onExit) => {
      const instance = new FakeInstance(rev.name, reason, onExit);
      created.push(instance);
      return instance as unknown as Instance;
    },
    idleTimeoutMs: () => timings.idleMs ?? 60_000,
    queueTimeoutMs: () => (timings.queueMs === "cloud-run" ? undefined : (timings.queueMs ?? 60_000)),
    maxInstancesQueueTimeoutMs: () => timings.maxQueueMs ?? 60_000,
    randomReclaimDelayMs: timings.randomReclaimMs,
  });
  return { pool, created };
}

/** Prepares and activates `rev` with `n` instances that come up at once. */
async function serving(p: InstancePool, created: FakeInstance[], rev: Revision, n = 1): Promise<FakeInstance[]> {
  const before = created.length;
  const prepared = p.prepare(rev, n);
  for (const instance of created.slice(before)) instance.ready();
  await prepared;
  p.activate(rev);
  return created.slice(before);
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("placement", () => {
  it("fills the least loaded instance first, rotating among equals, up to the concurrency", async () => {
    const { pool, created } = fakePool();
    const [a, b] = await serving(pool, created, revision("r1", { concurrency: 2 }), 2);
    const leases: Lease[] = [];
    for (let n = 0; n < 4; n++) leases.push(await pool.acquire());
    expect(leases.map((l) => l.instance.id)).toEqual([a.id, b.id, a.id, b.id]);
    expect([a.inFlight, b.inFlight]).toEqual([2, 2]);
    leases[1].release();
    leases[1].release(); // idempotent
    expect(b.inFlight).toBe(1);
    expect((await pool.acquire()).instance.id).toBe(b.id);
  });

  it("prefers the instance a request names while it has room", async () => {
    const { pool, created } = fakePool();
    const [, b] = await serving(pool, created, revision("r1", { concurrency: 2 }), 2);
    expect((await pool.acquire(b.id)).instance.id).toBe(b.id);
    expect((await pool.acquire(b.id)).instance.id).toBe(b.id);
    // Full: the request goes elsewhere.
    expect((await pool.acquire(b.id)).instance.id).not.toBe(b.id);
  });

  it("fails at once when no revision serves yet, and after close", async () => {
    const { pool } = fakePool();
    await expect(pool.acquire()).rejects.toBeInstanceOf(StartFailedError);
    await pool.close();
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolClosedError);
  });
});

describe("the queue", () => {
  it("starts one instance per queued request at concurrency 1, up to max instances", async () => {
    const { pool, created } = fakePool({ queueMs: 100, maxQueueMs: 100 });
    const [first] = await serving(pool, created, revision("r1", { maxInstances: 3 }));
    await pool.acquire();
    const waiting = [pool.acquire(), pool.acquire(), pool.acquire()];
    expect(created.length).toBe(3);
    expect(created.slice(1).map((i) => i.reason)).toEqual(["AUTOSCALING", "AUTOSCALING"]);
    created[1].ready();
    created[2].ready();
    const [x, y] = await Promise.all(waiting.slice(0, 2));
    expect(new Set([x.instance.id, y.instance.id])).toEqual(new Set([created[1].id, created[2].id]));
    // The third waits for a free slot and times out: max instances are all busy.
    await expect(waiting[2]).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(pool.queued).toBe(0);
    expect(first.inFlight).toBe(1);
  });

  it("lets a request at max instances wait the max-instances wait, apart from the cold-start wait", async () => {
    const { pool, created } = fakePool({ queueMs: 50, maxQueueMs: 60_000 });
    await serving(pool, created, revision("r1", { maxInstances: 2 }));
    const held = await pool.acquire();
    // An instance starts for this one (and never comes up): it waits the cold-start wait.
    const coldStart = pool.acquire();
    expect(created).toHaveLength(2);
    // Nothing can start for this one: both instances the revision may have exist.
    const atMax = pool.acquire();
    await expect(coldStart).rejects.toBeInstanceOf(QueueTimeoutError);
    // The cold-start wait is over, the max-instances wait is not: the second still queues.
    expect(pool.queued).toBe(1);
    held.release();
    expect((await atMax).instance.id).toBe(held.instance.id);
  });

  it("waits max(3.5 × the average startup, 10 s) for a cold start unless the wait is set", async () => {
    const { pool, created } = fakePool({ queueMs: "cloud-run" });
    expect(pool.coldStartWaitMs()).toBe(10_000);
    const prepared = pool.prepare(revision("r1"), 2);
    created[0].startupMs = 2_000;
    created[1].startupMs = 6_000;
    for (const instance of created) instance.ready();
    await prepared;
    expect(pool.coldStartWaitMs()).toBe(14_000);
  });

  it("hands a freed slot to the oldest waiter", async () => {
    const { pool, created } = fakePool();
    await serving(pool, created, revision("r1", { maxInstances: 1 }));
    const held = await pool.acquire();
    const second = pool.acquire();
    const third = pool.acquire();
    held.release();
    const got = await second;
    expect(got.instance.id).toBe(held.instance.id);
    expect(pool.queued).toBe(1);
    got.release();
    await third;
  });

  it("fails the requests a failed cold start was for, without starting it again", async () => {
    const { pool, created } = fakePool();
    await serving(pool, created, revision("r1", { maxInstances: 5 }));
    await pool.acquire();
    const waiting = pool.acquire();
    expect(created.length).toBe(2);
    created[1].fail("exited with code 3");
    await expect(waiting).rejects.toThrow(StartFailedError);
    await expect(waiting).rejects.toThrow(/exited with code 3/);
    await tick();
    expect(created.length).toBe(2);
  });

  it("forgets a waiter whose client went away", async () => {
    const { pool, created } = fakePool();
    await serving(pool, created, revision("r1", { maxInstances: 1 }));
    await pool.acquire();
    const gone = new AbortController();
    const waiting = pool.acquire(undefined, gone.signal);
    gone.abort(new Error("client left"));
    await expect(waiting).rejects.toThrow("client left");
    expect(pool.queued).toBe(0);
  });

  it("fails queued requests when closed", async () => {
    const { pool, created } = fakePool();
    const [a] = await serving(pool, created, revision("r1", { maxInstances: 1 }));
    await pool.acquire();
    const waiting = pool.acquire();
    await pool.close();
    await expect(waiting).rejects.toBeInstanceOf(PoolClosedError);
    expect(a.stopReasons).toEqual(["the service was removed"]);
  });
});

describe("revisions", () => {
  it("a failed revision leaves the serving one in place", async () => {
    const { pool, created } = fakePool();
    const [a] = await serving(pool, created, revision("r1"));
    const prepared = pool.prepare(revision("r2"), 2);
    created[1].ready();
    created[2].fail();
    await expect(prepared).rejects.toThrow("exited with code 3");
    expect(created[1].state).toBe("stopped");
    expect(pool.current?.name).toBe("r1");
    expect((await pool.acquire()).instance.id).toBe(a.id);
  });

  it("a roll stops idle instances of the old revision at once and busy ones when they finish", async () => {
    const { pool, created } = fakePool();
    const [a, b] = await serving(pool, created, revision("r1", { concurrency: 1 }), 2);
    const held = await pool.acquire(a.id);
    await serving(pool, created, revision("r2"));
    expect(b.stopReasons).toEqual(["a newer revision took over"]);
    expect(a.state).toBe("ready");
    held.release();
    expect(a.stopReasons).toEqual(["a newer revision took over"]);
    expect((await pool.acquire()).instance.revision).toBe("r2");
  });

  it("a roll hands requests queued on the old revision to the new one", async () => {
    const { pool, created } = fakePool();
    await serving(pool, created, revision("r1", { maxInstances: 1 }));
    await pool.acquire();
    const queued = pool.acquire();
    const [fresh] = await serving(pool, created, revision("r2"));
    expect((await queued).instance.id).toBe(fresh.id);
  });
});

describe("rolls during cold starts and removals during deploys", () => {
  it("a cold start cut short by a roll does not fail requests the new revision can still serve", async () => {
    const { pool, created } = fakePool();
    await serving(pool, created, revision("r1", { maxInstances: 3 }));
    await pool.acquire();
    const [q1, q2] = [pool.acquire(), pool.acquire()];
    const coldStarts = created.slice(1);
    expect(coldStarts.map((i) => i.state)).toEqual(["starting", "starting"]);
    // r2 has room for one request at a time: q1 takes it, q2 must wait for it to free.
    const [fresh] = await serving(pool, created, revision("r2", { maxInstances: 1 }));
    expect(coldStarts.map((i) => i.stopReasons)).toEqual([["a newer revision took over"], ["a newer revision took over"]]);
    const first = await q1;
    expect(first.instance.id).toBe(fresh.id);
    await tick();
    expect(pool.queued).toBe(1);
    first.release();
    expect((await q2).instance.id).toBe(fresh.id);
  });

  it("a deploy interrupted by close fails with PoolClosedError and starts nothing more", async () => {
    const { pool, created } = fakePool();
    const prepared = pool.prepare(revision("r1"), 1);
    await pool.close();
    await expect(prepared).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.prepare(revision("r2"), 1)).rejects.toBeInstanceOf(PoolClosedError);
    expect(created).toHaveLength(1);
  });
});

describe("min instances and idle reclaim", () => {
  it("replaces a lost instance to keep the minimum, and retries a replacement that fails", async () => {
    const { pool, created } = fakePool();
    const [a] = await serving(pool, created, revision("r1", { minInstances: 1 }));
    a.crash();
    expect(created.length).toBe(2);
    expect(created[1].reason).toBe("MANUAL_OR_CUSTOMER_MIN_INSTANCE");
    created[1].fail();
    // Not at once: after a backoff.
    await tick();
    expect(created.length).toBe(2);
    await waitUntil("three instances", () => created.length === 3);
    created[2].ready();
  });

  it("stops idle instances above the minimum after the idle timeout, never the minimum", async () => {
    const { pool, created } = fakePool({ idleMs: 30 });
    await serving(pool, created, revision("r1", { minInstances: 1, maxInstances: 3 }), 1);
    const first = await pool.acquire();
    const second = pool.acquire();
    created[1].ready();
    const leases = [first, await second];
    for (const lease of leases) lease.release();
    await waitUntil("one instance to stop", () => created.filter((i) => i.state === "stopped").length === 1);
    const stopped = created.filter((i) => i.state === "stopped");
    expect(stopped[0].stopReasons).toEqual(["idle"]);
    await new Promise((r) => setTimeout(r, 90));
    expect(created.filter((i) => i.state === "ready")).toHaveLength(1);
  });

  it("reclaims an idle instance at a random moment, min instances included, and replaces the minimum", async () => {
    const delays = [20, undefined];
    const { pool, created } = fakePool({ idleMs: 60_000, randomReclaimMs: () => delays.shift() });
    const [a] = await serving(pool, created, revision("r1", { minInstances: 1 }));
    await waitUntil("instance a to stop", () => a.state === "stopped");
    expect(a.stopReasons).toEqual(["reclaimed while idle (chaos)"]);
    // The minimum is kept: a replacement starts, and its own draw (never) leaves it alone.
    expect(created).toHaveLength(2);
    expect(created[1].reason).toBe("MANUAL_OR_CUSTOMER_MIN_INSTANCE");
    created[1].ready();
  });

  it("never reclaims a busy instance at random", async () => {
    const { pool, created } = fakePool({ idleMs: 60_000, randomReclaimMs: () => 10 });
    const [a] = await serving(pool, created, revision("r1"));
    const lease = await pool.acquire();
    await new Promise((r) => setTimeout(r, 60));
    expect(a.state).toBe("ready");
    lease.release();
    await waitUntil("instance a to stop", () => a.state === "stopped");
  });
});

