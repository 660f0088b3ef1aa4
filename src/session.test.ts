/**
 * Canceling `session.startMachines`: before the system is asked, while it launches, and when it
 * finishes launching as the signal aborts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { rejection } from "../test/helpers.ts";
import type { Machine } from "./machine.ts";
import type { Session } from "./session.ts";
import { start } from "./start.ts";
import { TestSystem } from "./systems/testing/index.ts";

/** A test system whose start waits for its signal to abort, then launches anyway or refuses. */
class AbortAwareStart extends TestSystem {
  calls = 0;
  constructor(readonly whenAborted: "launch" | "refuse") {
    super();
  }

  override async start(n: number, options: { signal?: AbortSignal } = {}): Promise<Machine[]> {
    this.calls++;
    const { signal } = options;
    if (!signal) throw new Error("the session passed no signal");
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    if (this.whenAborted === "refuse") return super.start(n, { signal });
    return super.start(n);
  }
}

let session: Session | undefined;
afterEach(async () => {
  await session?.shutdown({ drainMs: 100 });
  session = undefined;
});

describe("canceling startMachines", () => {
  it("asks nothing of the system when the signal has already aborted", async () => {
    const system = new AbortAwareStart("launch");
    session = await start({ system });
    const err = await rejection(session.startMachines(2, { signal: AbortSignal.abort() }));
    expect(err.kind).toBe("canceled");
    expect(system.calls).toBe(0);
    expect(session.machines()).toEqual([]);
  });

  it("passes the signal to the system, and rejects as the system does", async () => {
    const system = new AbortAwareStart("refuse");
    session = await start({ system });
    const controller = new AbortController();
    const starting = session.startMachines(2, { signal: controller.signal });
    controller.abort();
    expect((await rejection(starting)).kind).toBe("canceled");
    expect(system.calls).toBe(1);
    expect(session.machines()).toEqual([]);
  });

  it("stops what a system launched as the signal aborted, and starts none of it", async () => {
    const system = new AbortAwareStart("launch");
    session = await start({ system });
    const controller = new AbortController();
    const starting = session.startMachines(2, { signal: controller.signal });
    controller.abort(new Error("no longer needed"));
    const err = await rejection(starting);
    expect(err.kind).toBe("canceled");
    const machines = session.machines();
    expect(machines.length).toBe(2);
    for (const m of machines) {
      expect(m.state).toBe("stopped");
      expect(m.err?.kind).toBe("canceled");
      expect((m.err?.cause as Error).message).toBe("no longer needed");
    }
    // Never started: no keepalive or install call reached them.
    expect(system.machines().every((m) => system.endpointOf(m).server.peers.size === 0)).toBe(true);
  });
});
