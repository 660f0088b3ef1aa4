/**
 * The typed client says only what is true on the wire. The type-level checks here are compiled by
 * `tsc --noEmit` (part of `npm run typecheck` and CI): an `@ts-expect-error` whose error went away
 * fails the type check, and `expectTypeOf` pins each type exactly. The run-time checks show the client
 * places exactly the untyped call.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { Machine } from "./machine.ts";
import type { NotRemote, RemoteMethod, ServiceClient } from "./proxy.ts";
import { serviceClient, type Caller } from "./proxy.ts";
import type { CallOptions } from "./rpc/types.ts";
import { registerService, type RemoteCallable, type ServiceContext, type ServiceHandle } from "./services.ts";

class Calculator {
  total = 0;
  square(n: number): number {
    return n * n;
  }
  async add(n: number, ctx: ServiceContext): Promise<number> {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return (this.total += n);
  }
  now(): Date {
    return new Date();
  }
  optional(label?: string): string {
    return label ?? "none";
  }
  async *count(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
  async chunks(n: number): Promise<AsyncIterable<Uint8Array>> {
    return (async function* () {
      for (let i = 0; i < n; i++) yield new Uint8Array([i]);
    })();
  }
  init(): void {}
  _helper(a: number, b: number): number {
    return a + b;
  }
  private format(a: number, b: string): string {
    return `${a}${b}`;
  }
}

/** Methods the client must refuse: each would get the call's context where it expects a value. */
class Lying {
  add(a: number, b: number): number {
    return a + b;
  }
  three(a: number, ctx: ServiceContext, extra: number): number {
    return a + extra + (ctx.signal.aborted ? 1 : 0);
  }
  rest(...values: number[]): number {
    return values.length;
  }
  maybe(a: number, b?: number): number {
    return a + (b ?? 0);
  }
  fine(a: number): number {
    return a;
  }
}

/** Records the untyped calls a client places. */
function recorder(): { caller: Caller; calls: { method: string; arg: unknown; options?: CallOptions }[] } {
  const calls: { method: string; arg: unknown; options?: CallOptions }[] = [];
  return { calls, caller: { call: async (method, arg, options) => (calls.push({ method, arg, options }), undefined as never) } };
}

describe("the typed client's types", () => {
  it("types each method as one argument, call options and a promise of the reply", () => {
    const calc = serviceClient<Calculator>(recorder().caller, "Calc");
    expectTypeOf(calc.square).toEqualTypeOf<(arg: number, options?: CallOptions) => Promise<number>>();
    expectTypeOf(calc.add).toEqualTypeOf<(arg: number, options?: CallOptions) => Promise<number>>();
    expectTypeOf(calc.now).toEqualTypeOf<(arg?: undefined, options?: CallOptions) => Promise<Date>>();
    expectTypeOf(calc.optional).toEqualTypeOf<(arg?: string, options?: CallOptions) => Promise<string>>();
    // @ts-expect-error: the argument is required
    void calc.square();
    // @ts-expect-error: a second argument is the call's options, not a value
    void calc.square(2, 3);
  });

  it("types a streamed reply as what arrives: an AsyncIterable of its items", () => {
    const calc = serviceClient<Calculator>(recorder().caller, "Calc");
    expectTypeOf(calc.count).returns.toEqualTypeOf<Promise<AsyncIterable<number>>>();
    expectTypeOf(calc.chunks).returns.toEqualTypeOf<Promise<AsyncIterable<Uint8Array>>>();
    // An async generator's next() does not exist on the stream that arrives.
    expectTypeOf<Awaited<ReturnType<typeof calc.count>>>().not.toHaveProperty("next");
  });

  it("leaves out state, init, underscored and private members", () => {
    expectTypeOf<keyof ServiceClient<Calculator>>().toEqualTypeOf<"square" | "add" | "now" | "optional" | "count" | "chunks">();
  });

  it("refuses methods with more than one argument besides the context", () => {
    const lying = serviceClient<Lying>(recorder().caller, "Lying");
    const notSecond = "a remote method takes one argument: its second parameter receives the ServiceContext, so it must accept one (pass several values as one object)";
    const notMore = "a remote method takes one argument and an optional ServiceContext, not more parameters (pass several values as one object)";
    expectTypeOf(lying.add).toEqualTypeOf<NotRemote<typeof notSecond>>();
    expectTypeOf(lying.maybe).toEqualTypeOf<NotRemote<typeof notSecond>>();
    expectTypeOf(lying.three).toEqualTypeOf<NotRemote<typeof notMore>>();
    expectTypeOf(lying.rest).toEqualTypeOf<NotRemote<"a remote method takes one argument and an optional ServiceContext, not a rest parameter">>();
    expectTypeOf(lying.fine).toEqualTypeOf<RemoteMethod<(a: number) => number>>();
    // @ts-expect-error: b would receive the call's context
    void lying.add(1, 2);
    // @ts-expect-error: not callable with one argument either
    void lying.add(1);
  });

  it("refuses to register a class with such a method, naming the methods", () => {
    expectTypeOf<RemoteCallable<typeof Calculator>>().toEqualTypeOf<unknown>();
    expectTypeOf<RemoteCallable<typeof Lying>>().toEqualTypeOf<{ readonly "methods that take more than one argument (besides the ServiceContext)": "add" | "three" | "rest" | "maybe" }>();
    // Never run: registering is a run-time act, and this must fail only at compile time.
    if (Math.random() > 2) {
      // @ts-expect-error: Lying's add, three, rest and maybe cannot be called remotely
      registerService("Lying", Lying);
    }
  });
});

describe("the typed client", () => {
  it("places the untyped call, options included", async () => {
    const { caller, calls } = recorder();
    const calc = serviceClient<Calculator>(caller, "Calc");
    const signal = new AbortController().signal;
    await calc.square(3);
    await calc.now();
    await calc.add(2, { signal, timeoutMs: 5 });
    expect(calls).toEqual([
      { method: "Calc.square", arg: 3, options: undefined },
      { method: "Calc.now", arg: undefined, options: undefined },
      { method: "Calc.add", arg: 2, options: { signal, timeoutMs: 5 } },
    ]);
  });

  it("is not thenable, so awaiting it places no call", async () => {
    const { caller, calls } = recorder();
    const calc = serviceClient<Calculator>(caller, "Calc");
    expect(await calc).toBe(calc);
    expect(calls).toEqual([]);
  });

  it("comes from a registration handle that carries the name and the type", () => {
    const handle = registerService("ProxyTestCalculator", Calculator);
    expectTypeOf(handle).toEqualTypeOf<ServiceHandle<Calculator>>();
    expect(handle).toEqual({ name: "ProxyTestCalculator", cls: Calculator });
    expect(Object.isFrozen(handle)).toBe(true);
    expect(registerService("ProxyTestCalculator", Calculator)).toEqual(handle);
    // A machine's client from the handle calls the service installed under the handle's name.
    const machine = new Machine({ addr: "nowhere" });
    expectTypeOf(machine.service(handle)).toEqualTypeOf<ServiceClient<Calculator>>();
    expectTypeOf(machine.service(handle).square).toEqualTypeOf<(arg: number, options?: CallOptions) => Promise<number>>();
  });
});
