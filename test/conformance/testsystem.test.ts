import { start } from "../../src/index.ts";
import { TestSystem } from "../../src/systems/testing/index.ts";
import { runConformance } from "./system.case.ts";

runConformance("testsystem", async () => ({
  newSession: () => start({ system: new TestSystem() }),
  kill: (session, machine) => (session.system as TestSystem).kill(machine),
}));
