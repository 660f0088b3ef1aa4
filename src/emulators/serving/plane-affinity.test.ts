/**
 * Session affinity on real instances: the GAESA cookie brings a client back to its instance while it
 * lives; the client moves, with a new cookie, when the instance dies or affinity is broken; WebSocket
 * handshakes get the cookie too.
 */
import type { IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AFFINITY_COOKIE } from "./front-end.ts";
import { direct, isAlive, ready, runService, startHarness, waitFor, type Harness, type Whoami } from "./fixtures/plane-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The affinity cookie value a response sets, if any. */
function affinityCookieSet(setCookie: string[] | string | undefined): string | undefined {
  for (const line of [setCookie ?? []].flat()) {
    const m = new RegExp(`^${AFFINITY_COOKIE}=([^;]*)`).exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** A client that keeps the affinity cookie it is given, as a browser would. */
class CookieClient {
  cookie: string | undefined;
  constructor(readonly url: string) {}

  /** GETs /whoami; returns who answered and the cookie value set by this response, if any. */
  async get(): Promise<{ who: Whoami; set: string | undefined }> {
    const res = await fetch(`${this.url}/whoami`, { headers: this.cookie ? { cookie: `${AFFINITY_COOKIE}=${this.cookie}` } : {} });
    expect(res.status).toBe(200);
    const set = affinityCookieSet(res.headers.getSetCookie());
    if (set) this.cookie = set;
    return { who: (await res.json()) as Whoami, set };
  }

  /** Opens a WebSocket; resolves with the instance's greeting and the cookie the handshake set. */
  async openSocket(): Promise<{ socket: WebSocket; who: Whoami; set: string | undefined }> {
    const socket = new WebSocket(this.url.replace("http:", "ws:"), { headers: this.cookie ? { cookie: `${AFFINITY_COOKIE}=${this.cookie}` } : {} });
    let set: string | undefined;
    socket.once("upgrade", (res: IncomingMessage) => (set = affinityCookieSet(res.headers["set-cookie"])));
    const who = await new Promise<Whoami>((resolve, reject) => {
      socket.once("message", (data) => resolve(JSON.parse(String(data)) as Whoami));
      socket.once("error", reject);
    });
    if (set) this.cookie = set;
    return { socket, who, set };
  }
}

async function twoInstanceService(h: Harness, id: string): Promise<string> {
  const { uri } = await h.plane.deploy(runService(id, { concurrency: 10, minInstances: 2, maxInstances: 2, sessionAffinity: true }));
  expect(ready(h, id)).toHaveLength(2);
  return uri;
}

describe("session affinity", () => {
  it("returns a client to its instance while it lives, and moves it with a new cookie when it dies", async () => {
    h = await startHarness();
    const client = new CookieClient(await twoInstanceService(h, "sticky"));
    const first = await client.get();
    expect(first.set).toBe(first.who.instanceId);
    for (let n = 0; n < 6; n++) {
      const again = await client.get();
      expect(again.who.instanceId).toBe(first.who.instanceId);
      expect(again.set).toBeUndefined();
    }
    // Without the cookie, requests spread over both instances.
    const anonymous = new Set<string>();
    for (let n = 0; n < 6; n++) anonymous.add((await new CookieClient(client.url).get()).who.instanceId);
    expect(anonymous.size).toBe(2);

    h.plane.killInstance(first.who.instanceId);
    await waitFor("the instance to die", () => !isAlive(first.who.pid));
    const moved = await client.get();
    expect(moved.who.instanceId).not.toBe(first.who.instanceId);
    expect(moved.set).toBe(moved.who.instanceId);
    expect((await client.get()).who.instanceId).toBe(moved.who.instanceId);
  });

  it("moves a client with a new cookie while affinity is broken, and keeps it there after", async () => {
    h = await startHarness();
    const client = new CookieClient(await twoInstanceService(h, "broken"));
    const first = await client.get();
    h.plane.breakAffinity();
    let moved: { who: Whoami; set: string | undefined } | undefined;
    for (let n = 0; n < 10 && !moved; n++) {
      const reply = await client.get();
      if (reply.who.instanceId !== first.who.instanceId) moved = reply;
    }
    expect(moved, "a request left its instance while affinity was broken").toBeDefined();
    expect(moved!.set).toBe(moved!.who.instanceId);
    h.plane.breakAffinity(false);
    for (let n = 0; n < 4; n++) expect((await client.get()).who.instanceId).toBe(client.cookie);
  });

  it("moves a client with a new cookie when its instance has no free slot", async () => {
    h = await startHarness();
    const { uri } = await h.plane.deploy(runService("full", { concurrency: 1, minInstances: 2, maxInstances: 2, sessionAffinity: true }));
    const client = new CookieClient(uri);
    const first = await client.get();
    const home = ready(h, "full").find((i) => i.id === first.who.instanceId)!;
    // Another client's request fills the home instance's only slot.
    const other = fetch(`${uri}/hold`, { headers: { cookie: `${AFFINITY_COOKIE}=${home.id}` } });
    await waitFor("the home instance to be full", () => ready(h!, "full").find((i) => i.id === home.id)?.inFlight === 1);
    const moved = await client.get();
    expect(moved.who.instanceId).not.toBe(home.id);
    expect(moved.set).toBe(moved.who.instanceId);
    await direct(home, "/release", "POST");
    expect((await other).status).toBe(200);
  });

  it("moves a client whose instance belongs to a replaced revision to the new one", async () => {
    h = await startHarness();
    const uri = await twoInstanceService(h, "rolled");
    const client = new CookieClient(uri);
    const before = await client.get();
    const { revision } = await h.plane.deploy(runService("rolled", { concurrency: 10, minInstances: 2, maxInstances: 2, sessionAffinity: true }));
    const after = await client.get();
    expect(after.who.instanceId).not.toBe(before.who.instanceId);
    expect(after.set).toBe(after.who.instanceId);
    expect(ready(h, "rolled").find((i) => i.id === after.who.instanceId)?.revision).toBe(revision);
  });

  it("adds its cookie next to the container's own", async () => {
    h = await startHarness();
    const uri = await twoInstanceService(h, "cookies");
    const res = await fetch(`${uri}/cookie`);
    const who = (await res.json()) as Whoami;
    const cookies = res.headers.getSetCookie();
    expect(cookies).toContain("app=1; Path=/");
    expect(affinityCookieSet(cookies)).toBe(who.instanceId);
  });

  it("sets the cookie on a WebSocket handshake and honours it on the next one", async () => {
    h = await startHarness();
    const client = new CookieClient(await twoInstanceService(h, "ws-sticky"));
    const first = await client.openSocket();
    expect(first.set).toBe(first.who.instanceId);
    // The socket still works after the rewritten handshake.
    const echoed = new Promise<string>((resolve) => first.socket.once("message", (data) => resolve(String(data))));
    first.socket.send("ping");
    expect(await echoed).toBe("echo:ping");
    first.socket.close();
    for (let n = 0; n < 4; n++) {
      const again = await client.openSocket();
      expect(again.who.instanceId).toBe(first.who.instanceId);
      expect(again.set).toBeUndefined();
      again.socket.close();
    }
    h.plane.killInstance(first.who.instanceId);
    await waitFor("the instance to die", () => !isAlive(first.who.pid));
    const moved = await client.openSocket();
    expect(moved.who.instanceId).not.toBe(first.who.instanceId);
    expect(moved.set).toBe(moved.who.instanceId);
    moved.socket.close();
  });
});
