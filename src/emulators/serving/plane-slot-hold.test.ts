/**
 * The slot a request holds outlives its client: after a client leaves, the front end ends the request
 * on the instance only once the hold has passed (or the instance finished it), so at concurrency 1 the
 * next request reaches the instance only after the old one has ended there.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { direct, ready, runService, startHarness, waitFor, whoami, type Harness } from "./fixtures/plane-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Opens a WebSocket to `uri` and waits for the fixture's greeting. */
async function openSocket(uri: string): Promise<WebSocket> {
  const socket = new WebSocket(uri.replace("http:", "ws:"));
  await new Promise((resolve, reject) => socket.once("message", resolve).once("error", reject));
  return socket;
}

const only = (service: string) => ready(h!, service)[0]!;

describe("a WebSocket whose client leaves", () => {
  it("keeps its slot on the instance for the hold: the instance still has the socket and the next request waits", async () => {
    h = await startHarness({ slotHoldMs: 60_000, maxInstancesQueueTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("held-socket", { concurrency: 1, maxInstances: 1 }));
    const socket = await openSocket(uri);
    socket.terminate();
    await waitFor("the front end to see the client go", () => only("held-socket").lingering === 1);
    expect(only("held-socket").inFlight).toBe(1);
    // The instance has not seen the socket end: the front end has not ended the request yet.
    expect(await direct<string[]>(only("held-socket"), "/events")).toEqual(["ws-open"]);
    // At concurrency 1 and max instances 1 the slot is taken: the next request queues, then gets 429.
    expect((await fetch(`${uri}/whoami`)).status).toBe(429);
  });

  it("lets the next request reach the instance only after the old socket has been ended there", async () => {
    h = await startHarness({ slotHoldMs: 300 });
    const { uri } = await h.plane.deploy(runService("reconnect", { concurrency: 1, maxInstances: 1 }));
    const socket = await openSocket(uri);
    socket.terminate();
    // A reconnect right away: it waits for the slot, which frees when the hold ends the old socket.
    const next = await whoami(uri);
    expect(next.instanceId).toBe(only("reconnect").id);
    expect(await direct<string[]>(only("reconnect"), "/events")).toEqual(["ws-open", "ws-close", "open /whoami"]);
    expect(only("reconnect")).toMatchObject({ inFlight: 0, lingering: 0 });
  });
});

describe("an HTTP request whose client leaves", () => {
  it("keeps its slot for the hold, the instance still working on it", async () => {
    h = await startHarness({ slotHoldMs: 60_000, maxInstancesQueueTimeoutMs: 300 });
    const { uri } = await h.plane.deploy(runService("held-request", { concurrency: 1, maxInstances: 1 }));
    const leaving = new AbortController();
    const abandoned = fetch(`${uri}/hold`, { signal: leaving.signal }).catch((err: Error) => err);
    await waitFor("the request in flight", () => only("held-request").inFlight === 1);
    leaving.abort();
    await abandoned;
    await waitFor("the front end to see the client go", () => only("held-request").lingering === 1);
    expect(await direct<string[]>(only("held-request"), "/events")).toEqual(["open /hold"]);
    expect((await fetch(`${uri}/whoami`)).status).toBe(429);
  });

  it("frees the slot as soon as the instance finishes the request, before the hold ends", async () => {
    h = await startHarness({ slotHoldMs: 60_000 });
    const { uri } = await h.plane.deploy(runService("finishing", { concurrency: 1, maxInstances: 1 }));
    const leaving = new AbortController();
    const abandoned = fetch(`${uri}/hold`, { signal: leaving.signal }).catch((err: Error) => err);
    await waitFor("the request in flight", () => only("finishing").inFlight === 1);
    leaving.abort();
    await abandoned;
    await waitFor("the front end to see the client go", () => only("finishing").lingering === 1);
    // The instance answers the held request: nobody reads the answer, and the slot frees.
    await direct(only("finishing"), "/release", "POST");
    await waitFor("the slot to free", () => only("finishing").inFlight === 0);
    expect(only("finishing").lingering).toBe(0);
    expect((await whoami(uri)).instanceId).toBe(only("finishing").id);
  });

  it("frees the slot at once when the answer was complete", async () => {
    h = await startHarness({ slotHoldMs: 60_000 });
    const { uri } = await h.plane.deploy(runService("complete", { concurrency: 1, maxInstances: 1 }));
    await whoami(uri);
    await waitFor("the slot to free", () => only("complete").inFlight === 0);
    expect(only("complete").lingering).toBe(0);
  });
});
