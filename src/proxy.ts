/**
 * @module
 * The typed client of a service: a type-level facade over the untyped `call("Service.method", arg)`.
 * `machine.service<CirclePI>("PI").sample(1e7)` is exactly `machine.call("PI.sample", 1e7)`, typed.
 */
import type { CallOptions } from "./rpc/types.ts";

type AnyMethod = (...args: any[]) => unknown;

type CallableKeys<T> = {
  [K in keyof T]: K extends string ? (K extends `_${string}` | "init" | "constructor" ? never : T[K] extends AnyMethod ? K : never) : never;
}[keyof T];

/** The remote form of one method: its first parameter is the argument; it always returns a promise. */
export type RemoteMethod<TMethod> = TMethod extends (...args: infer TArgs) => infer TResult
  ? [] extends TArgs
    ? (arg?: TArgs[0], options?: CallOptions) => Promise<Awaited<TResult>>
    : (arg: TArgs[0], options?: CallOptions) => Promise<Awaited<TResult>>
  : never;

/** The client of a service of type `T`: each public method, called remotely. */
export type ServiceClient<T> = { readonly [K in CallableKeys<T>]: RemoteMethod<T[K]> };

/** Anything that can place an untyped call. */
export interface Caller {
  call<TResult = unknown>(method: string, arg?: unknown, options?: CallOptions): Promise<TResult>;
}

/** Builds the typed client of service `name` over `caller`. */
export function serviceClient<T>(caller: Caller, name: string): ServiceClient<T> {
  const methods = new Map<string, (arg?: unknown, options?: CallOptions) => Promise<unknown>>();
  return new Proxy(Object.create(null) as ServiceClient<T>, {
    get(_target, prop) {
      // Not thenable, so `await machine.service("X")` does not try to call X.then remotely.
      if (typeof prop !== "string" || prop === "then") return undefined;
      let fn = methods.get(prop);
      if (!fn) {
        const method = `${name}.${prop}`;
        fn = (arg?: unknown, options?: CallOptions) => caller.call(method, arg, options);
        methods.set(prop, fn);
      }
      return fn;
    },
  });
}
