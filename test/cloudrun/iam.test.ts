/**
 * The Cloud Run System and IAM, when the driver's identity is not a project-level invoker: the front
 * end refuses its first attach with 403, it grants itself the invoker role on the service, and retries
 * while the grant propagates; past its bound it gives up, naming the role.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Session } from "../../src/index.ts";
import type { EmulatedCloudRun } from "../../src/systems/cloudrun/emulated.ts";
import { CloudRunSystem } from "../../src/systems/cloudrun/system.ts";
import { Echo } from "../fixtures/services.ts";
import { startTestCloudRun, testSystemOptions } from "./cloudrun-helpers.ts";

let emulated: EmulatedCloudRun;
const sessions: Session[] = [];

beforeAll(async () => {
  emulated = await startTestCloudRun({ iam: { driverIsProjectInvoker: false, propagationDelayMs: 1_500 } });
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.shutdown()));
  await emulated?.close();
});

describe("a driver that is not a project-level invoker", () => {
  it("grants itself the invoker role on the service and waits for it to apply", async () => {
    const events: string[] = [];
    const session = await start({ system: new CloudRunSystem(testSystemOptions(emulated, { service: "granted", onEvent: (type) => events.push(type) })) });
    sessions.push(session);
    const [m] = await session.startMachines(1, { services: { Echo: new Echo() } });
    await m.waitFor("running");
    expect(await m.call("Echo.echo", "invoked")).toBe("invoked");
    expect(events).toContain("cloudrun:grantedInvoker");
  });

  it("gives up on a 403 that outlasts its propagation bound, naming the role", async () => {
    const session = await start({ system: new CloudRunSystem(testSystemOptions(emulated, { service: "impatient", iamPropagationMs: 200 })) });
    sessions.push(session);
    const [m] = await session.startMachines(1);
    const err = await m.waitFor("running").then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/still may not invoke impatient .* after it was granted roles\/run\.invoker/);
  });
});
