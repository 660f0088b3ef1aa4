/**
 * The driver's tunnel link on a loopback socket pair: frames held until a receiver is set, control
 * messages kept out of the frames, and the close error saying how the tunnel ended.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { BigmachineError, isFatal, isTemporary } from "../../core.ts";
import type { ControlMessage } from "./attach-protocol.ts";
import { tunnelLink, type TunnelLink } from "./control-link.ts";
import { SocketPairs } from "./test-socket-pair.ts";
import { waitUntil } from "../../../test/helpers.ts";
import { TunnelSocket } from "./tunnel-socket.ts";

const pairs = new SocketPairs();
afterEach(() => pairs.close());

/** A tunnel link on one end of a loopback pair; `far` plays the worker. */
async function linkPair(): Promise<{ link: TunnelLink; far: WebSocket; controls: ControlMessage[] }> {
  const { near, far } = await pairs.open();
  const controls: ControlMessage[] = [];
  return { link: tunnelLink(new TunnelSocket(near), { machineId: "m-1", onControl: (m) => controls.push(m) }), far, controls };
}

function closeOf(link: TunnelLink): Promise<Error | undefined> {
  return new Promise((resolve) => link.onClose(resolve));
}

describe("a tunnel link", () => {
  it("holds frames until a receiver is set, sends frames, and keeps control messages out of them", async () => {
    const { link, far, controls } = await linkPair();
    const atWorker: Buffer[] = [];
    far.on("message", (data: Buffer) => atWorker.push(data));
    far.send(Buffer.from("one"));
    far.send(JSON.stringify({ type: "failed", kind: "invalid", message: "just saying" }));
    far.send(Buffer.from("two"));
    await waitUntil("the control message arrives", () => controls.length === 1);
    const frames: string[] = [];
    link.onFrame((frame) => frames.push(Buffer.from(frame).toString()));
    expect(frames).toEqual(["one", "two"]);
    for (const text of ["a", "b", "c"]) link.send(Buffer.from(text));
    await waitUntil("the frames arrive", () => atWorker.length === 3);
    expect(atWorker.map(String)).toEqual(["a", "b", "c"]);
    expect(link.bufferedAmount).toBe(0);
  });

  it("closes with no error when either side closes on purpose", async () => {
    const { link, far } = await linkPair();
    const closed = closeOf(link);
    far.close(1000, "bye");
    expect(await closed).toBeUndefined();
    const mine = await linkPair();
    const mineClosed = closeOf(mine.link);
    mine.link.close("done");
    expect(await mineClosed).toBeUndefined();
  });

  it("closes with the machine's exit (fatal), the worker's failure, or a temporary net error for a drop", async () => {
    const exited = await linkPair();
    const exitClosed = closeOf(exited.link);
    exited.far.send(JSON.stringify({ type: "exit", code: null, signal: "SIGKILL" }));
    exited.far.close(1000, "machine exited");
    const exitErr = (await exitClosed) as BigmachineError;
    expect([exitErr.kind, isFatal(exitErr), exitErr.message]).toEqual(["unavailable", true, "machine m-1 was killed by SIGKILL"]);
    expect(exited.link.exit).toEqual({ type: "exit", code: null, signal: "SIGKILL" });
    expect(exited.controls).toEqual([{ type: "exit", code: null, signal: "SIGKILL" }]);

    const failed = await linkPair();
    const failClosed = closeOf(failed.link);
    failed.far.send(JSON.stringify({ type: "failed", kind: "invalid", message: "no control message is expected" }));
    failed.far.close(1008, "unexpected control message");
    const failErr = (await failClosed) as BigmachineError;
    expect(failErr.kind).toBe("invalid");
    expect(failErr.message).toMatch(/the worker closed the tunnel of machine m-1: no control message is expected/);

    const dropped = await linkPair();
    const dropClosed = closeOf(dropped.link);
    dropped.far.terminate();
    const dropErr = (await dropClosed) as BigmachineError;
    expect(dropErr.kind).toBe("net");
    expect(isTemporary(dropErr)).toBe(true);
  });

  it("closes with kind invalid when the worker sends text that is not a control message", async () => {
    const { link, far } = await linkPair();
    const closed = closeOf(link);
    far.send("gibberish");
    const err = (await closed) as BigmachineError;
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/not JSON/);
  });
});
