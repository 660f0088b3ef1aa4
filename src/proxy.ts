/**
 * @module
 * The typed client of a service: a type-level facade over the untyped `call("Service.method", arg)`.
 * `machine.service<CirclePI>("PI").sample(1e7)` is exactly `machine.call("PI.sample", 1e7)`, typed.
 *
 * The types say only what is true on the wire. A remote method takes one argument (the machine passes
 * the call's {@link ServiceContext} as the second), so a method declaring a second parameter of any
 * other type, or more parameters, is not callable through the client: it has type {@link NotRemote},
 * and calling it does not compile. A reply that is an `AsyncIterable` arrives as a stream: the client
 * types it as `AsyncIterable` of the items, whatever iterable (an async generator, say) the method
 * returned.
 */
import type { CallOptions } from "./rpc/types.ts";
import type { ServiceContext } from "./services.ts";

type AnyMethod = (...args: any[]) => unknown;

/** The names of a service's remotely callable methods: public, not `_`-prefixed, not `init`. */
export type CallableKeys<T> = {
  [K in keyof T]: K extends string ? (K extends `_${string}` | "init" | "constructor" ? never : T[K] extends AnyMethod ? K : never) : never;
}[keyof T];

/**
 * Why a method with these parameters cannot be called remotely, or `never` if it can: one argument,
 * then optionally a parameter that takes the {@link ServiceContext}.
 */
export type ParameterProblem<TArgs extends unknown[]> = number extends TArgs["length"]
  ? "a remote method takes one argument and an optional ServiceContext, not a rest parameter"
  : [Exclude<TArgs["length"], 0 | 1 | 2>] extends [never]
    ? 2 extends TArgs["length"]
      ? [ServiceContext] extends [TArgs[1]]
        ? never
        : "a remote method takes one argument: its second parameter receives the ServiceContext, so it must accept one (pass several values as one object)"
      : never
    : "a remote method takes one argument and an optional ServiceContext, not more parameters (pass several values as one object)";

/** What a client has in place of a method that cannot be called remotely; calling it does not compile. */
export interface NotRemote<TWhy extends string> {
  readonly "not callable remotely": TWhy;
}

/** A reply as it arrives: an `AsyncIterable` reply is streamed, and arrives as an `AsyncIterable` of its items. */
export type RemoteReply<TResult> = Awaited<TResult> extends infer TValue ? (TValue extends AsyncIterable<infer TItem> ? AsyncIterable<TItem> : TValue) : never;

/**
 * The remote form of one method: its first parameter is the argument (optional when it accepts
 * `undefined`), then the call's options; it always returns a promise of the reply as it arrives.
 */
export type RemoteMethod<TMethod> = TMethod extends (...args: infer TArgs) => infer TResult
  ? [ParameterProblem<TArgs>] extends [never]
    ? undefined extends TArgs[0]
      ? (arg?: TArgs[0], options?: CallOptions) => Promise<RemoteReply<TResult>>
      : (arg: TArgs[0], options?: CallOptions) => Promise<RemoteReply<TResult>>
    : NotRemote<ParameterProblem<TArgs>>
  : never;

/** The client of a service of type `T`: each public method, called remotely. */
export type ServiceClient<T> = { readonly [K in CallableKeys<T>]: RemoteMethod<T[K]> };

/** The methods of `T` that cannot be called remotely, or `never` if there are none. */
export type NotRemoteMethods<T> = { [K in CallableKeys<T>]: [ParameterProblem<Parameters<Extract<T[K], AnyMethod>>>] extends [never] ? never : K }[CallableKeys<T>];

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
