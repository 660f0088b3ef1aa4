/**
 * The Cloud Run System's fault handling against real Cloud Run (`npm run test:cloud`), and the facts the
 * emulators assume that only real Cloud Run can confirm (docs/emulators.md): the affinity cookie on a
 * WebSocket handshake, the status of a token for another audience, how soon an instance takes a resume
 * after the old tunnel closed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isKind, start, type Machine, type Session } from "../../src/index.ts";
import { attach, resume, type Resumed } from "../../src/systems/cloudrun/attach-client.ts";
import { newDeploymentKey, sessionProof } from "../../src/systems/cloudrun/attach-protocol.ts";
import { CloudRunSystem } from "../../src/systems/cloudrun/system.ts";
import { bundleProgram } from "../../src/ship/index.ts";
import { Counter, Echo } from "../fixtures/services.ts";
import { cloudSystemOptions, CLOUD_TEST_SERVICE } from "./cloud-helpers.ts";

let session: Session;
let system: CloudRunSystem;
let m: Machine;
const events: string[] = [];

beforeAll(async () => {
  system = new CloudRunSystem(cloudSystemOptions({ tunnelRotateAfterMs: 20_000, onEvent: (type) => events.push(type) }));
  session = await start({ system });
  [m] = await session.startMachines(1, { services: { Echo: new Echo(), Counter: new Counter() } });
  await m.waitFor("running");
});

afterAll(async () => {
  await session?.shutdown();
});

describe(`the Cloud Run System on real Cloud Run (service ${CLOUD_TEST_SERVICE})`, () => {
  it("keeps a call and a stream going across three rotations", async () => {
    const call = m.service<Counter>("Counter").slowIncr({ by: 1, ms: 70_000 });
    const stream = await m.service<Echo>("Echo").ticks({ n: 70, everyMs: 1_000 });
    const items: number[] = [];
    for await (const item of stream as AsyncIterable<number>) items.push(item);
    expect(items).toEqual([...Array(70).keys()]);
    expect((await call).runs).toBe(1);
    expect(system.sessionOf(m).stats.rotations).toBeGreaterThanOrEqual(3);
  });

  it("finishes a call in flight across a tunnel the driver drops", async () => {
    const call = m.service<Counter>("Counter").slowIncr({ by: 1, ms: 10_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    system.sessionOf(m).link.detach("dropped on purpose");
    expect((await call).runs).toBe(1);
  });

  it("reads the machine's output back from Cloud Logging", async () => {
    await m.service<Echo>("Echo").print({ lines: 5, tag: "cloud-line" });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 120_000);
    const lines: string[] = [];
    for await (const line of m.tail(controller.signal)) {
      if (line.text.startsWith("cloud-line")) lines.push(line.text);
      if (lines.length === 5) break;
    }
    clearTimeout(timer);
    expect(lines).toEqual(Array.from({ length: 5 }, (_, i) => `cloud-line ${i}`));
  });
});

describe("what the emulators assume of real Cloud Run", () => {
  it("sets an affinity cookie on the WebSocket handshake (its name is what the emulator uses)", async () => {
    const service = system.service!;
    const secret = newDeploymentKey();
    const program = await bundleProgram({ entry: cloudSystemOptions().programEntry });
    const idToken = await idTokenFor(service.uri);
    const attached = await attach(service.uri, { idToken, secret, proof: sessionProof(service.deploymentKey, secret), program });
    try {
      expect(attached.cookie).toMatch(/^GAESA=/);
      // How soon the instance takes a resume once the old tunnel has closed: count the refusals.
      attached.link.close("measuring the slot");
      const started = Date.now();
      let refusals = 0;
      let resumed: Resumed | undefined;
      while (!resumed && Date.now() - started < 60_000) {
        resumed = await resume(service.uri, { idToken, secret, proof: sessionProof(service.deploymentKey, secret), cookie: attached.cookie, machineId: attached.hello.machineId, resumeToken: attached.ready.resumeToken }).catch(() => {
          refusals++;
          return undefined;
        });
      }
      process.stderr.write(`cloud facts: a resume was taken ${Date.now() - started} ms after the close, after ${refusals} refusals\n`);
      expect(resumed).toBeDefined();
      resumed?.link.close();
    } finally {
      attached.link.close();
    }
  });

  it("answers a token for another audience with 401", async () => {
    const service = system.service!;
    const secret = newDeploymentKey();
    const idToken = await idTokenFor("https://another-audience.example");
    const err = await attach(service.uri, { idToken, secret, proof: sessionProof(service.deploymentKey, secret), program: { digest: `sha256:${"0".repeat(64)}`, code: new Uint8Array() } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(isKind(err, "unauthorized")).toBe(true);
    expect(err?.message).toMatch(/refused by the service with HTTP 401/);
  });
});

async function idTokenFor(audience: string): Promise<string> {
  const { GoogleAuth } = await import("google-auth-library");
  const client = await new GoogleAuth().getIdTokenClient(audience);
  const headers = await client.getRequestHeaders();
  return (headers.get("authorization") ?? "").replace(/^Bearer /, "");
}
