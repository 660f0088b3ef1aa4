/**
 * The worker end to end through the emulators: a service whose image is the worker (run as a local
 * command), deployed with the Admin API client; a driver's program bundled and shipped over an attach
 * carrying an ID token; RPC through the tunnel to the supervisor and a service; a dropped tunnel
 * resumed to the same machine; and the machine's end, by shutdown and by keepalives stopping, reported
 * on the tunnel, after which the instance's process is gone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { v2 } from "@google-cloud/run";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isFatal, isKind, isTemporary, ResumableLink, RpcPeer, type Link } from "../../src/core.ts";
import { startEmulators, type Emulators } from "../../src/emulators/index.ts";
import { attach, resume, type Attached, type Resumed } from "../../src/systems/cloudrun/attach-client.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey, sessionProof, type ControlMessage } from "../../src/systems/cloudrun/attach-protocol.ts";
import { WORKER_ENV } from "../../worker/config.ts";
import { bundleFixture, newSecret, processAlive, type Program } from "./helpers.ts";
import { waitUntil } from "../helpers.ts";

const IMAGE = "bigmachine-worker:test";
const WORKER_MAIN = fileURLToPath(new URL("../../worker/main.ts", import.meta.url));
const SHORT_KEEPALIVE_ENV = { BIGMACHINE_KEEPALIVE_PERIOD_MS: "200", BIGMACHINE_KEEPALIVE_TIMEOUT_MS: "3000", BIGMACHINE_KEEPALIVE_RPC_TIMEOUT_MS: "1500" };

describe("the worker behind the emulated Cloud Run", () => {
  let emulators: Emulators;
  let services: InstanceType<typeof v2.ServicesClient>;
  let program: Program;
  let uri: string;
  let serviceName: string;
  let idToken: string;
  const deploymentKey = newDeploymentKey();
  const secret = newSecret();
  const peers: RpcPeer[] = [];
  const programDir = mkdtempSync(join(tmpdir(), "bigmachine-emulated-programs-"));

  beforeAll(async () => {
    program = await bundleFixture("driver-program.ts");
    emulators = await startEmulators({
      // The image's own environment, as its Dockerfile sets it: listen on all interfaces.
      images: { [IMAGE]: { command: [process.execPath, "--import", "tsx", WORKER_MAIN], env: { [WORKER_ENV.host]: "0.0.0.0" } } },
      admin: { operationDelayMs: 10 },
      serving: { idleTimeoutMs: 120_000, shutdownGraceMs: 3_000, startupTimeoutMs: 20_000, queueTimeoutMs: 10_000 },
    });
    services = new v2.ServicesClient(emulators.runClientOptions());
    const [operation] = await services.createService({
      parent: `projects/${emulators.projectId}/locations/${emulators.region}`,
      serviceId: "machines",
      service: {
        template: {
          containers: [
            {
              image: IMAGE,
              env: [
                { name: DEPLOYMENT_KEY_ENV, value: deploymentKey },
                { name: WORKER_ENV.endedLingerMs, value: "1000" },
                // Emulated instances share this host's file system; on Cloud Run each has its own.
                { name: WORKER_ENV.programDir, value: programDir },
              ],
            },
          ],
          maxInstanceRequestConcurrency: 1,
          sessionAffinity: true,
          timeout: { seconds: 300 },
        },
      },
    });
    const [service] = await operation.promise();
    uri = service.uri!;
    serviceName = service.name!;
    idToken = emulators.issuer.signIdToken({ aud: uri, email: emulators.serviceAccountEmail });
  });

  afterAll(async () => {
    for (const peer of peers) peer.close();
    await services?.close();
    await emulators?.close();
    rmSync(programDir, { recursive: true, force: true });
  });

  const credentials = () => ({ idToken, secret, proof: sessionProof(deploymentKey, secret) });

  /**
   * An RPC peer over the machine's resumable link, carried first by `link`. As the System does, a
   * fatal close of a tunnel (the machine's end) ends the link; other drops wait for a resume.
   */
  function peerOf(link: Link): { peer: RpcPeer; session: ResumableLink } {
    const session = new ResumableLink({ label: "machine" });
    session.onDetach((err) => {
      if (err !== undefined && isFatal(err)) session.fail(err);
    });
    void session.attach(link).catch(() => {});
    const peer = new RpcPeer(session, { label: "machine" });
    peers.push(peer);
    return { peer, session };
  }

  /** Retries a fresh attach or a resume while the answer is temporary (a busy or wrong instance). */
  async function retrying<T>(what: string, once: () => Promise<T>): Promise<T> {
    let last: unknown;
    let result: T | undefined;
    await waitUntil(what, async () => {
      try {
        result = await once();
        return true;
      } catch (err) {
        if (!isTemporary(err)) throw err;
        last = err;
        return false;
      }
    }, { timeoutMs: 30_000, intervalMs: 100 }).catch((err: Error) => {
      throw new Error(`${err.message}; last error: ${(last as Error | undefined)?.message}`);
    });
    return result!;
  }

  function instanceOf(id: string) {
    return emulators.serving.instances(serviceName).find((i) => i.id === id) ?? emulators.serving.stoppedInstances(serviceName).find((i) => i.id === id);
  }

  it("starts the shipped program as a machine, serves RPC through the tunnel, resumes after a drop, and ends on shutdown", async () => {
    const controls: ControlMessage[] = [];
    const attached: Attached = await retrying("a fresh attach", () => attach(uri, { ...credentials(), program, env: { ...SHORT_KEEPALIVE_ENV, TALLY_NOTE: "shipped" }, onControl: (m) => controls.push(m) }));
    expect(attached.shipped).toBe(true);
    const instance = instanceOf(attached.hello.instanceId);
    // The hello names the instance by the id its metadata server gives, and the tunnel is its one request.
    expect(instance).toMatchObject({ state: "ready", inFlight: 1 });
    expect(attached.cookie).toMatch(/^GAESA=/);

    const { peer, session } = peerOf(attached.link);
    expect(await peer.call("Supervisor.ping", { hello: "machine" })).toEqual({ hello: "machine" });
    await peer.call("Supervisor.register", { name: "Tally", type: "Tally", state: {} });
    expect(await peer.call("Tally.add", 2)).toBe(2);
    // Many calls at once: their frames share writes on the way out and are piped whole.
    const totals = await Promise.all(Array.from({ length: 100 }, () => peer.call<number>("Tally.add", 1)));
    expect(Math.max(...totals)).toBe(102);
    expect(new Set(totals).size).toBe(100);
    expect(await peer.call("Tally.pid", undefined)).toBe(attached.ready.pid);
    expect(await peer.call("Tally.env", "TALLY_NOTE")).toBe("shipped");
    expect(await peer.call("Tally.env", DEPLOYMENT_KEY_ENV)).toBeNull();

    // The network drops the tunnel: the link waits for a resume, and so does a call made meanwhile.
    emulators.serving.dropConnections(attached.hello.instanceId);
    await waitUntil("the drop is seen", () => session.state === "detached");
    const during = peer.call<number>("Tally.add", 3);
    expect(processAlive(attached.ready.pid)).toBe(true);

    const { machineId, resumeToken } = attached.hello;
    // A wrong token is refused for good (a temporary answer means the old request still held the slot).
    const wrong = await retrying("a verdict on a wrong token", () =>
      resume(uri, { ...credentials(), cookie: attached.cookie, machineId, resumeToken: "not-the-token" }).then(
        () => undefined,
        (err: unknown) => {
          if (isTemporary(err)) throw err;
          return err;
        },
      ),
    );
    expect(isKind(wrong, "unauthorized")).toBe(true);

    const resumed: Resumed = await retrying("the resume", () => resume(uri, { ...credentials(), cookie: attached.cookie, machineId, resumeToken, onControl: (m) => controls.push(m) }));
    expect(resumed.ready).toMatchObject({ machineId, pid: attached.ready.pid });
    await session.attach(resumed.link);
    // The same peer goes on: the call made while detached completes, on the same machine state.
    expect(await during).toBe(105);
    const again = peer;
    expect(await again.call("Tally.add", 0)).toBe(105);

    const closed = again.closed;
    await again.call("Supervisor.shutdown", {});
    expect(await closed).toBeInstanceOf(Error);
    await waitUntil("the exit reaches the driver", () => controls.some((m) => m.type === "exit"));
    expect(controls.filter((m) => m.type === "exit")).toEqual([{ type: "exit", code: 0, signal: null }]);
    expect(resumed.link.exit).toEqual({ type: "exit", code: 0, signal: null });
    await waitUntil("the machine's process is gone", () => !processAlive(attached.ready.pid));
    await waitUntil("the instance's process is gone", () => instanceOf(attached.hello.instanceId)?.state === "stopped" && !processAlive(instance!.pid!));
  });

  it("ends a machine whose keepalives stop, and reports it on the tunnel", async () => {
    const controls: ControlMessage[] = [];
    const attached = await retrying("a fresh attach", () => attach(uri, { ...credentials(), program, env: SHORT_KEEPALIVE_ENV, onControl: (m) => controls.push(m) }));
    const { peer } = peerOf(attached.link);
    // One keepalive with a short lease, then none: the machine's watchdog ends it.
    await peer.call("Supervisor.keepalive", { nextMs: 300 });
    const err = await peer.closed;
    expect(isKind(err, "unavailable")).toBe(true);
    expect(isFatal(err)).toBe(true);
    expect(controls).toEqual([{ type: "exit", code: 1, signal: null }]);
    const instance = instanceOf(attached.hello.instanceId)!;
    await waitUntil("the instance's process is gone", () => instanceOf(instance.id)?.state === "stopped" && !processAlive(instance.pid!));
  });
});
