/**
 * @module
 * Long-running operations (`google.longrunning.Operation`): each create, update and delete gets one,
 * named `projects/P/locations/L/operations/UUID`, which is not done until its work completes and then
 * carries a `response` or an `error`. Operations can be read, listed (filter `done=true|false`),
 * deleted (which forgets the result but cancels nothing) and waited on.
 */
import { randomUUID } from "node:crypto";
import { ApiError, type RpcStatus } from "./api-error.ts";
import { pageOf, type Page } from "./paging.ts";
import type { JsonObject } from "./proto-json.ts";
import { locationName, type LocationName } from "./resource-names.ts";

/** An Operation in canonical JSON form; `done` is present only once it is true. */
export interface Operation {
  name: string;
  metadata?: JsonObject;
  done?: true;
  response?: JsonObject;
  error?: RpcStatus;
}

/** How an operation ended. */
export type Outcome = { response: JsonObject } | { error: RpcStatus };

/** Done operations kept for reads and lists before the oldest are forgotten. */
const MAX_DONE_OPERATIONS = 10_000;

/** The operations of every location, in memory. */
export class OperationStore {
  readonly #operations = new Map<string, Operation>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  #closed = false;

  /** Creates a not-yet-done operation in `location` whose metadata is `metadata`. */
  start(location: LocationName, metadata: JsonObject): Operation {
    const operation: Operation = { name: `${locationName(location)}/operations/${randomUUID()}`, metadata };
    this.#operations.set(operation.name, operation);
    return operation;
  }

  /** Marks `name` done with `outcome` and wakes its waiters; does nothing if it was deleted. */
  finish(name: string, outcome: Outcome): void {
    const operation = this.#operations.get(name);
    if (operation) {
      Object.assign(operation, { done: true }, outcome);
      this.#forgetOldest();
    }
    for (const wake of this.#waiters.get(name) ?? []) wake();
    this.#waiters.delete(name);
  }

  /** The operation named `name`; throws NOT_FOUND if there is none. */
  get(name: string): Operation {
    const operation = this.#operations.get(name);
    if (!operation) throw new ApiError("NOT_FOUND", `Operation '${name}' was not found`);
    return operation;
  }

  /** Operations of `location`, filtered by `filter` (`""`, `done=true` or `done=false`), one page. */
  list(location: LocationName, request: { filter?: string; pageSize?: number; pageToken?: string }): Page<Operation> {
    const done = parseFilter(request.filter ?? "");
    const prefix = `${locationName(location)}/operations/`;
    const matching = [...this.#operations.values()].filter(
      (operation) => operation.name.startsWith(prefix) && (done === undefined || Boolean(operation.done) === done),
    );
    return pageOf(matching, (operation) => operation.name, { ...request, scope: `${prefix}?${request.filter ?? ""}` });
  }

  /** Forgets `name` (its work goes on); throws NOT_FOUND if there is none. */
  delete(name: string): void {
    this.get(name);
    this.#operations.delete(name);
  }

  /** Resolves when `name` is done, `timeoutMs` has passed, or the store closes, with the operation then. */
  async wait(name: string, timeoutMs: number): Promise<Operation> {
    if (!this.get(name).done && timeoutMs > 0 && !this.#closed) {
      await new Promise<void>((resolve) => {
        const waiters = this.#waiters.get(name) ?? new Set();
        this.#waiters.set(name, waiters);
        const stop = this.#sleep(timeoutMs, () => {
          waiters.delete(wake);
          resolve();
        });
        const wake = () => {
          stop();
          resolve();
        };
        waiters.add(wake);
      });
    }
    return this.get(name);
  }

  /** Resolves after `ms` (or as soon as the store closes). */
  delay(ms: number): Promise<void> {
    if (ms <= 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#sleep(ms, resolve));
  }

  /** Ends every wait and delay now; later ones end at once. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#timers]) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.#timers.clear();
  }

  /** Calls `wake` after `ms` or at close, once; returns a function that cancels it without calling. */
  #sleep(ms: number, wake: () => void): () => void {
    const entry = {
      timer: setTimeout(() => {
        this.#timers.delete(entry);
        wake();
      }, ms),
      wake,
    };
    this.#timers.add(entry);
    return () => {
      clearTimeout(entry.timer);
      this.#timers.delete(entry);
    };
  }

  #forgetOldest(): void {
    let excess = [...this.#operations.values()].filter((operation) => operation.done).length - MAX_DONE_OPERATIONS;
    for (const [name, operation] of this.#operations) {
      if (excess <= 0) break;
      if (operation.done) {
        this.#operations.delete(name);
        excess--;
      }
    }
  }
}

/** `""` → no filter; `done=true` / `done = false` → that state; anything else is INVALID_ARGUMENT. */
function parseFilter(filter: string): boolean | undefined {
  if (filter.trim() === "") return undefined;
  const match = /^\s*done\s*=\s*(true|false)\s*$/.exec(filter);
  if (!match) throw new ApiError("INVALID_ARGUMENT", `Unsupported filter "${filter}": only done=true and done=false are supported.`);
  return match[1] === "true";
}
