import { describe, expect, it } from "vitest";
import { BigmachineError, isKind } from "./errors.ts";
import { serviceClient } from "./proxy.ts";
import { instantiate, registerService, ServiceTable, serviceSpec } from "./services.ts";

class Adder {
  base = 0;
  #calls = 0;
  add(n: number): number {
    this.#calls++;
    return this.base + n;
  }
  calls(): number {
    return this.#calls;
  }
  _hidden(): string {
    return "hidden";
  }
}
class Unregistered {}
class Needy {
  constructor(readonly required: { x: number }) {
    if (!required) throw new Error("needs an argument");
  }
}
registerService("Adder", Adder);
registerService("Needy", Needy);

const ctx = { method: "", signal: new AbortController().signal };

describe("service registry", () => {
  it("captures state and re-creates an instance with private fields working", () => {
    const spec = serviceSpec("Add", Object.assign(new Adder(), { base: 10 }));
    expect(spec).toEqual({ name: "Add", type: "Adder", state: { base: 10 } });
    const copy = instantiate(structuredClone(spec)) as Adder;
    expect(copy).toBeInstanceOf(Adder);
    expect(copy.add(5)).toBe(15);
    expect(copy.calls()).toBe(1);
  });

  it("refuses unregistered classes and conflicting registrations", () => {
    expect(() => serviceSpec("X", new Unregistered())).toThrow(/not registered/);
    expect(() => registerService("Adder", Unregistered)).toThrow(/already registered/);
    expect(() => registerService("Other", Adder)).toThrow(/already registered as Adder/);
    expect(() => registerService("bad name", Unregistered)).toThrow(/invalid service name/);
    registerService("Adder", Adder); // the same pair again is fine
    expect(() => instantiate({ name: "Y", type: "Missing", state: {} })).toThrow(/not registered/);
  });

  it("explains a constructor that needs arguments", () => {
    expect(() => instantiate({ name: "N", type: "Needy", state: {} })).toThrow(/with no arguments failed: needs an argument/);
  });
});

describe("ServiceTable", () => {
  const table = new ServiceTable();
  table.add("Add", Object.assign(new Adder(), { base: 1 }));

  it("dispatches Service.method", async () => {
    expect(await table.dispatch("Add.add", 2, ctx)).toBe(3);
  });

  it("rejects unknown services and methods, hidden and inherited members", async () => {
    for (const method of ["Nope.add", "Add.nope", "Add._hidden", "Add.constructor", "Add.toString", "Add.hasOwnProperty", "Add", "Add.base"]) {
      const err = (() => {
        try {
          table.dispatch(method, undefined, ctx);
        } catch (e) {
          return e;
        }
      })();
      expect(err, method).toBeInstanceOf(BigmachineError);
      expect(isKind(err, "not-exist"), method).toBe(true);
    }
  });

  it("passes a method's own throw, value or promise through", async () => {
    const t = new ServiceTable();
    t.add("T", { boom() { throw new Error("sync boom"); }, now() { return 1; }, async later() { return 2; } });
    expect(() => t.dispatch("T.boom", undefined, ctx)).toThrow("sync boom");
    expect(t.dispatch("T.now", undefined, ctx)).toBe(1);
    await expect(t.dispatch("T.later", undefined, ctx)).resolves.toBe(2);
  });

  it("refuses to replace an installed service", () => {
    expect(() => table.add("Add", new Adder())).toThrow(/already installed/);
  });
});

describe("typed proxy", () => {
  it("maps property calls to Service.method calls and is not thenable", async () => {
    const calls: unknown[] = [];
    const client = serviceClient<Adder>({ call: async (method: string, arg?: unknown) => { calls.push([method, arg]); return 42 as never; } }, "Add");
    expect(await client.add(1)).toBe(42);
    expect(await client.calls()).toBe(42);
    expect(calls).toEqual([["Add.add", 1], ["Add.calls", undefined]]);
    expect((client as unknown as { then?: unknown }).then).toBeUndefined();
    expect(await Promise.resolve(client)).toBe(client);
    expect(client.add).toBe(client.add);
  });
});
