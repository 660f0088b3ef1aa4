/**
 * The worker's handshake hands out only a program that still matches its digest: a stored program
 * changed on disk since it was stored is removed and refused, so the driver ships it again, instead of
 * being run as is.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProgramStore, programDigest } from "../../src/ship/index.ts";
import { SocketPairs } from "../../src/systems/cloudrun/test-socket-pair.ts";
import { TunnelSocket } from "../../src/systems/cloudrun/tunnel-socket.ts";
import { runHandshake } from "../../worker/handshake.ts";

const pairs = new SocketPairs();
const HELLO = { machineId: "m-1", resumeToken: "token", instanceId: "test-instance" };

describe("the worker's handshake", () => {
  let root: string;
  let store: ProgramStore;
  const code = new TextEncoder().encode('console.log("the shipped program");\n');
  const digest = programDigest(code);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "bigmachine-handshake-"));
    store = new ProgramStore(join(root, "programs"));
  });

  afterEach(async () => {
    await pairs.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Runs the worker's side against a driver that asks for the held program without shipping it. */
  async function execHeld(): Promise<string> {
    const { near, far } = await pairs.open();
    const driver = new TunnelSocket(far);
    const worker = runHandshake(new TunnelSocket(near), HELLO, store, 5_000);
    await driver.next({ timeoutMs: 5_000, what: "hello" });
    driver.sendControl({ type: "exec", digest, shipped: false, args: [], env: {} });
    return (await worker).programPath;
  }

  it("runs a held program that still matches its digest", async () => {
    const file = await store.put(code, digest);
    expect(await execHeld()).toBe(file);
  });

  it("refuses a held program changed on disk, and removes it so the driver ships it again", async () => {
    const file = await store.put(code, digest);
    chmodSync(file, 0o600);
    writeFileSync(file, 'console.log("not what the driver shipped");\n');
    const err = await execHeld().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: "precondition", message: expect.stringMatching(/does not hold program .*; ship it/) });
    expect(existsSync(file)).toBe(false);
    expect(store.digests()).toEqual([]);
  });
});
