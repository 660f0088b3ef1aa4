/**
 * The worker's relay between a tunnel and the machine's connection, on loopback sockets: frames pass
 * whole and in order, a slow reader on one side pauses reading on the other, closes propagate, and a
 * text message from the driver is handed to the worker rather than relayed.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { SocketPairs, waitUntil } from "../../src/systems/cloudrun/test-socket-pair.ts";
import { TunnelSocket } from "../../src/systems/cloudrun/tunnel-socket.ts";
import { startRelay, type RelayOptions } from "../../worker/relay.ts";

const pairs = new SocketPairs();
afterEach(() => pairs.close());

/** A socket pair on loopback: `near` is the relay's end, `far` the other party's. */
const pair = () => pairs.open();

function collect(ws: WebSocket): Buffer[] {
  const got: Buffer[] = [];
  ws.on("message", (data: Buffer) => got.push(data));
  return got;
}

async function relayed(options: Partial<RelayOptions> = {}) {
  const driver = await pair();
  const machine = await pair();
  const tunnel = new TunnelSocket(driver.near);
  const calls = { texts: [] as string[], machineClosed: 0 };
  const relay = startRelay(tunnel, machine.near, {
    onTunnelText: (text) => calls.texts.push(text),
    onMachineClosed: () => calls.machineClosed++,
    ...options,
  });
  return { driver, machine, tunnel, relay, calls };
}

describe("the relay", () => {
  it("passes binary messages both ways, whole and in order, including those queued before it started", async () => {
    const driver = await pair();
    const machine = await pair();
    const tunnel = new TunnelSocket(driver.near);
    // A frame that arrives before the relay takes over waits in the tunnel's queue.
    const arrived = new Promise((resolve) => driver.near.once("message", resolve));
    driver.far.send(Buffer.from("early"));
    await arrived;
    const atMachine = collect(machine.far);
    const atDriver = collect(driver.far);
    startRelay(tunnel, machine.near, { onTunnelText: () => {}, onMachineClosed: () => {} });
    for (let i = 0; i < 50; i++) driver.far.send(Buffer.from(`to machine ${i}`));
    for (let i = 0; i < 50; i++) machine.far.send(Buffer.from(`to driver ${i}`));
    await waitUntil("everything arrives", () => atMachine.length === 51 && atDriver.length === 50);
    expect(atMachine.map(String)).toEqual(["early", ...Array.from({ length: 50 }, (_, i) => `to machine ${i}`)]);
    expect(atDriver.map(String)).toEqual(Array.from({ length: 50 }, (_, i) => `to driver ${i}`));
  });

  it("pauses reading from the machine while the driver's side has too much queued, and resumes once it drains", async () => {
    const { driver, machine } = await relayed({ highWaterBytes: 1024 * 1024 });
    const atDriver = collect(driver.far);
    driver.far.pause(); // a driver that reads nothing for a while
    const frame = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 64; i++) machine.far.send(frame);
    await waitUntil("the relay stops reading from the machine", () => machine.near.isPaused);
    // Held back where it came from, not in the worker: the machine's own queue stays non-empty.
    await waitUntil("the machine's sends back up", () => machine.far.bufferedAmount > 0);
    expect(atDriver.length).toBe(0);
    driver.far.resume();
    await waitUntil("every frame arrives", () => atDriver.length === 64, 30_000);
    expect(atDriver.every((f) => f.equals(frame))).toBe(true);
    await waitUntil("reading from the machine resumes", () => !machine.near.isPaused);
  });

  it("pauses reading from the driver while the machine's side has too much queued", async () => {
    const { driver, machine } = await relayed({ highWaterBytes: 1024 * 1024 });
    const atMachine = collect(machine.far);
    machine.far.pause();
    const frame = Buffer.alloc(1024 * 1024, 2);
    for (let i = 0; i < 64; i++) driver.far.send(frame);
    await waitUntil("the relay stops reading from the driver", () => driver.near.isPaused);
    machine.far.resume();
    await waitUntil("every frame arrives", () => atMachine.length === 64, 30_000);
    await waitUntil("reading from the driver resumes", () => !driver.near.isPaused);
  });

  it("closes the machine's connection when the tunnel closes", async () => {
    const { driver, machine, relay } = await relayed();
    const machineClosed = new Promise((resolve) => machine.far.once("close", resolve));
    driver.far.close(1000, "driver left");
    expect(await relay.ended).toBe("tunnel");
    await machineClosed;
  });

  it("tells the worker when the machine's connection closes first, leaving the tunnel to it", async () => {
    const { machine, tunnel, relay, calls } = await relayed();
    machine.far.close(1000, "machine went");
    expect(await relay.ended).toBe("machine");
    expect(calls.machineClosed).toBe(1);
    expect(tunnel.open).toBe(true);
  });

  it("hands a text message from the driver to the worker instead of relaying it", async () => {
    const { driver, machine, calls } = await relayed();
    const atMachine = collect(machine.far);
    driver.far.send("a control message");
    driver.far.send(Buffer.from("a frame"));
    await waitUntil("the frame arrives", () => atMachine.length === 1);
    expect(calls.texts).toEqual(["a control message"]);
    expect(atMachine.map(String)).toEqual(["a frame"]);
  });
});
