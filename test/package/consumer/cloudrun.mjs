// A plain-JavaScript driver of the installed package on the Cloud Run System, against the emulators
// started in this process: the driver's side comes from `bigmachine/cloudrun`, imported only where
// the driver runs, and the worker the emulated instances run is bundled from the installed package.
import assert from "node:assert/strict";
import { isMachineProcess, registerService, start } from "bigmachine";

export class Greeter {
  greet(name) {
    return { greeting: `hello, ${name}`, pid: process.pid };
  }
}
const GreeterService = registerService("Greeter", Greeter);

let system;
let emulated;
if (!isMachineProcess()) {
  const { CloudRunSystem, startEmulatedCloudRun } = await import("bigmachine/cloudrun");
  emulated = await startEmulatedCloudRun({ logging: { ingestionDelayMs: 10, ingestionJitterMs: 0 } });
  system = new CloudRunSystem(emulated.systemOptions());
}
const session = await start({ system });
try {
  const [machine] = await session.startMachines(1, { services: { [GreeterService.name]: new Greeter() } });
  const reply = await machine.service(GreeterService).greet("package");
  assert.equal(reply.greeting, "hello, package");
  assert.notEqual(reply.pid, process.pid);
  console.log(`package Cloud Run driver: an emulated instance answered ${JSON.stringify(reply.greeting)}`);
} finally {
  await session.shutdown();
  await emulated?.close();
}
