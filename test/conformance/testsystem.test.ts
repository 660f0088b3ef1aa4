import { start } from "../../src/index.ts";
import { TestSystem } from "../../src/systems/testing/index.ts";
import { runConformance } from "./system.case.ts";

runConformance("testsystem", async () => ({
  newSession: (options) => start({ system: new TestSystem(), ...options }),
  kill: (session, machine) => (session.system as TestSystem).kill(machine),
}));
