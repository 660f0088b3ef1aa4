/**
 * @module
 * Services: the registry of service classes (known to driver and machines alike, since both run the same
 * program, as Go's `gob.Register`), how a service instance travels to a machine and is re-created there,
 * and the table a machine dispatches calls through.
 *
 * A service is an instance of a registered class. Its public methods take one argument and an optional
 * {@link ServiceContext} and return a value, a promise, or an `AsyncIterable` (a streamed reply). Methods
 * whose names start with `_`, the constructor and `init` are not callable remotely.
 */
import { errorOf } from "./errors.ts";
import type { NotRemoteMethods } from "./proxy.ts";
import type { CallContext, Dispatcher } from "./rpc/types.ts";

/** A class whose instances can be installed on machines. */
export type ServiceClass = abstract new (...args: any[]) => object;

/** What a service method receives besides its argument. */
export interface ServiceContext extends CallContext {}

/** The optional hook a service implements to set itself up on the machine, after it was re-created there. */
export interface ServiceInit<TSession = unknown> {
  init(session: TSession): void | Promise<void>;
}

const classesByName = new Map<string, ServiceClass>();
const namesByClass = new Map<ServiceClass, string>();

/**
 * A registered service class: the name it was registered under, written once, and its instances' type.
 * `machine.service(handle)` is the typed client of the service installed under `handle.name`, so
 * install instances under that name: `services: { [PI.name]: new CirclePI() }`.
 */
export interface ServiceHandle<T extends object = object> {
  /** The name the class was registered under. */
  readonly name: string;
  /** The class itself. */
  readonly cls: abstract new (...args: any[]) => T;
}

/**
 * `unknown` for a class whose methods can all be called remotely; otherwise a type no class has, which
 * names the methods that take more than one argument, so {@link registerService} refuses it at compile
 * time.
 */
export type RemoteCallable<C extends ServiceClass> = [NotRemoteMethods<InstanceType<C>>] extends [never]
  ? unknown
  : { readonly "methods that take more than one argument (besides the ServiceContext)": NotRemoteMethods<InstanceType<C>> };

/**
 * Registers a service class under `name`, in the driver and in machines (call it at module top level,
 * before `start()`), and returns its handle. Registering the same class under the same name again is a
 * no-op; anything else that reuses a name or a class throws. A class with a public method that takes
 * more than one argument besides the {@link ServiceContext} does not compile: the machine would pass
 * the context where the method expects its second argument.
 */
export function registerService<C extends ServiceClass>(name: string, cls: C & RemoteCallable<C>): ServiceHandle<InstanceType<C>> {
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw errorOf("invalid", `invalid service name ${JSON.stringify(name)}`);
  const existing = classesByName.get(name);
  if (existing !== cls) {
    if (existing) throw errorOf("invalid", `service name ${name} is already registered to ${existing.name}`);
    const otherName = namesByClass.get(cls);
    if (otherName) throw errorOf("invalid", `class ${cls.name} is already registered as ${otherName}`);
    classesByName.set(name, cls);
    namesByClass.set(cls, name);
  }
  return Object.freeze({ name, cls: cls as abstract new (...args: any[]) => InstanceType<C> });
}

/** An instance on its way to a machine: the registered type name and its own enumerable state. */
export interface ServiceSpec {
  /** The name the service is called by, e.g. `PI` in `PI.sample`. */
  name: string;
  /** The name its class was registered under. */
  type: string;
  state: Record<string, unknown>;
}

/** Captures a service instance for installation on a machine; throws `invalid` for an unregistered class. */
export function serviceSpec(name: string, instance: object): ServiceSpec {
  const type = namesByClass.get(instance.constructor as ServiceClass);
  if (type === undefined) {
    throw errorOf("invalid", `service ${name}: class ${instance.constructor?.name ?? "?"} is not registered; call registerService first`, { severity: "fatal" });
  }
  return { name, type, state: { ...instance } as Record<string, unknown> };
}

/**
 * Re-creates an instance from its spec: the registered class is constructed with no arguments (so
 * field initializers and private fields exist), then the captured state is copied over it. Give service
 * constructors defaults for every parameter, and acquire resources in `init`, which runs on the machine.
 */
export function instantiate(spec: ServiceSpec): object {
  const cls = classesByName.get(spec.type);
  if (!cls) {
    throw errorOf("not-exist", `service type ${spec.type} is not registered in this program (register it at module top level, before start())`, { severity: "fatal" });
  }
  let instance: object;
  try {
    instance = Reflect.construct(cls, []) as object;
  } catch (err) {
    throw errorOf("invalid", `service ${spec.name}: constructing ${cls.name} with no arguments failed: ${(err as Error).message}`, { severity: "fatal", cause: err });
  }
  return Object.assign(instance, spec.state);
}

const NOT_CALLABLE = new Set(["constructor", "init"]);

function methodOf(instance: object, method: string): ((arg: unknown, ctx: ServiceContext) => unknown) | undefined {
  if (NOT_CALLABLE.has(method) || method.startsWith("_")) return undefined;
  // Walk the class chain ourselves so Object.prototype members (toString, hasOwnProperty, ...) never resolve.
  for (let proto: object | null = instance; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const desc = Object.getOwnPropertyDescriptor(proto, method);
    if (desc) return typeof desc.value === "function" ? desc.value : undefined;
  }
  return undefined;
}

/** The services installed on one machine, by name; dispatches `Service.method` calls to them. */
export class ServiceTable implements Dispatcher {
  readonly #services = new Map<string, object>();
  /** `Service.method` → its bound target, filled on first call (the lookup walks prototypes). */
  readonly #resolved = new Map<string, { service: object; fn: (arg: unknown, ctx: ServiceContext) => unknown }>();

  /** Installs `instance` as `name`; replacing an installed service is refused. */
  add(name: string, instance: object): void {
    if (this.#services.has(name)) throw errorOf("precondition", `service ${name} is already installed`, { severity: "fatal" });
    this.#services.set(name, instance);
  }

  has(name: string): boolean {
    return this.#services.has(name);
  }

  names(): string[] {
    return [...this.#services.keys()];
  }

  dispatch(method: string, arg: unknown, ctx: CallContext): unknown {
    let target = this.#resolved.get(method);
    if (target === undefined) {
      const dot = method.indexOf(".");
      const serviceName = dot < 0 ? method : method.slice(0, dot);
      const service = this.#services.get(serviceName);
      if (!service) throw errorOf("not-exist", `unknown service ${serviceName}`, { severity: "fatal" });
      const fn = dot < 0 ? undefined : methodOf(service, method.slice(dot + 1));
      if (!fn) throw errorOf("not-exist", `unknown method ${method}`, { severity: "fatal" });
      // Only successful lookups are kept: services are only ever added, so a hit never goes stale.
      target = { service, fn };
      this.#resolved.set(method, target);
    }
    return target.fn.call(target.service, arg, ctx);
  }
}
