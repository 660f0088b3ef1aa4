/**
 * The conformance suite against real Cloud Run (`npm run test:cloud`): the same behaviours every system
 * shows, with machines on instances of a real service. A killed machine is one whose process exits at
 * once (nothing outside Google can kill an instance).
 */
import { start } from "../../src/index.ts";
import { CloudRunSystem } from "../../src/systems/cloudrun/system.ts";
import { runConformance } from "../conformance/system.case.ts";
import { cloudSystemOptions } from "./cloud-helpers.ts";

runConformance("cloudrun on Google", async () => ({
  newSession: (options) => start({ system: new CloudRunSystem(cloudSystemOptions()), ...options }),
  kill: async (_session, machine) => {
    await machine.call("Supervisor.shutdown", { code: 137 }).catch(() => {});
  },
}));
