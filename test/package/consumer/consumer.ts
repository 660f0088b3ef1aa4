// A TypeScript consumer of the installed package: compiled with tsc against the package's own
// declarations (skipLibCheck off), never run. Each entry point is used the way its docs say.
import { BigmachineError, isKind, LocalSystem, registerService, start, type Machine, type NotRemote, type ServiceContext, type Session } from "bigmachine";
import { createMachineEndpoint, linkPair, registerSystem, type Link, type RpcEndpoint, type System } from "bigmachine/system";
import { TestSystem } from "bigmachine/testing";
import type { CloudRunSystemOptions } from "bigmachine/cloudrun";
import type { EmulatorsOptions } from "bigmachine/emulators";

export class Adder {
  total = 0;
  async add(arg: { a: number; b: number }, ctx?: ServiceContext): Promise<number> {
    if (ctx?.signal.aborted) throw new BigmachineError("canceled", { kind: "canceled" });
    return arg.a + arg.b;
  }
  async *range(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
}
export const AdderService = registerService("Adder", Adder);

export class TwoArguments {
  add(a: number, b: number): number {
    return a + b;
  }
}
// @ts-expect-error: add's second parameter would receive the call's context
registerService("TwoArguments", TwoArguments);

export async function drive(machine: Machine): Promise<number> {
  const adder = machine.service(AdderService);
  const sum: number = await adder.add({ a: 1, b: 2 });
  const range: AsyncIterable<number> = await adder.range(3);
  let total = sum;
  for await (const i of range) total += i;
  const untyped: NotRemote<string> = machine.service<TwoArguments>("TwoArguments").add;
  void untyped;
  return total;
}

export async function local(): Promise<Session> {
  const session = await start({ system: new LocalSystem({ keepalive: { timeoutMs: 5_000 } }) });
  const machines = await session.startMachines(1, { services: { [AdderService.name]: new Adder() }, signal: AbortSignal.timeout(60_000) });
  await drive(machines[0]!).catch((err: unknown) => (isKind(err, "remote") ? 0 : Promise.reject(err)));
  return session;
}

export const inTests = (): Promise<Session> => start({ system: new TestSystem() });

export function systemAuthor(): { link: Link; endpoint?: RpcEndpoint; system?: System } {
  registerSystem("mine", () => new TestSystem());
  const [link] = linkPair();
  void createMachineEndpoint;
  return { link };
}

export const cloudRun: CloudRunSystemOptions = { region: "europe-west1" };
export const emulators: EmulatorsOptions = { projectId: "bigmachine-consumer" };
