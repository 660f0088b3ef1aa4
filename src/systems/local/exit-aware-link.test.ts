import { describe, expect, it } from "vitest";
import { linkPair } from "../../core.ts";
import { exitAwareLink } from "./exit-aware-link.ts";

function fate() {
  let seen!: () => void;
  let reported!: () => void;
  const exitSeen = new Promise<void>((resolve) => (seen = resolve));
  const exited = new Promise<void>((resolve) => (reported = resolve));
  return { fate: { exitSeen, exited }, seen, reported };
}

describe("exitAwareLink", () => {
  it("passes frames both ways", async () => {
    const [client, server] = linkPair();
    const link = exitAwareLink(client, fate().fate);
    const got = new Promise<Uint8Array>((resolve) => server.onFrame(resolve));
    link.send(new Uint8Array([1, 2, 3]));
    expect([...(await got)]).toEqual([1, 2, 3]);
    const back = new Promise<Uint8Array>((resolve) => link.onFrame(resolve));
    server.send(new Uint8Array([4]));
    expect([...(await back)]).toEqual([4]);
  });

  it("holds a close until the process's exit has been reported", async () => {
    const [client, server] = linkPair();
    const f = fate();
    const events: string[] = [];
    const link = exitAwareLink(client, f.fate, 10_000);
    const closed = new Promise<void>((resolve) => link.onClose(() => (events.push("close"), resolve())));
    server.close("killed");
    f.seen();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    events.push("exit reported");
    f.reported();
    await closed;
    expect(events).toEqual(["exit reported", "close"]);
  });

  it("reports a close as is when no exit is seen within the wait", async () => {
    const [client, server] = linkPair();
    const f = fate();
    const link = exitAwareLink(client, f.fate, 20);
    const closed = new Promise<string>((resolve) => link.onClose(() => resolve("closed")));
    server.close("dropped");
    expect(await closed).toBe("closed");
  });
});
