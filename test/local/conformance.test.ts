/**
 * The conformance suite every system runs, against the local system: machines are processes running
 * the machine fixture (which registers the shared fixture services) under tsx.
 */
import { start, type LocalSystem } from "../../src/index.ts";
import { runConformance } from "../conformance/system.case.ts";
import { testLocalSystem } from "./helpers.ts";

runConformance("local", async () => ({
  newSession: (options) => start({ system: testLocalSystem(), ...options }),
  kill: (session, machine) => void (session.system as LocalSystem).kill(machine),
}));
