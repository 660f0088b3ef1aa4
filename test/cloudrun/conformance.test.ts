/**
 * The conformance suite every system runs, against the Cloud Run System on the emulators: machines
 * are emulated Cloud Run instances running the bundled worker, which runs the shipped conformance
 * program. The front end holds a slot a while after its client leaves (the emulators' default), and
 * the driver is not a project-level invoker, so it first grants itself the invoker role on the service
 * and waits for the grant to apply.
 */
import { start } from "../../src/index.ts";
import { CloudRunSystem } from "../../src/systems/cloudrun/system.ts";
import { runConformance } from "../conformance/system.case.ts";
import { startTestCloudRun, testSystemOptions } from "./cloudrun-helpers.ts";

runConformance("cloudrun", async () => {
  const emulated = await startTestCloudRun({ serving: { slotHoldMs: 1_000 }, iam: { driverIsProjectInvoker: false, propagationDelayMs: 1_000 } });
  return {
    newSession: (options) => start({ system: new CloudRunSystem(testSystemOptions(emulated)), ...options }),
    kill: (session, machine) => {
      const instance = (session.system as CloudRunSystem).instanceIdOf(machine);
      if (instance === undefined) throw new Error(`machine ${machine.addr} has no instance`);
      emulated.emulators.serving.killInstance(instance);
    },
    cleanup: () => emulated.close(),
  };
});
