/**
 * The operation store: finishing, waiting with a bound, listing with filters and pages, deleting, and
 * ending every wait and delay at close.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ApiError } from "./api-error.ts";
import { OperationStore } from "./operations.ts";

const LOCATION = { project: "p", location: "l" };

describe("OperationStore", () => {
  let store: OperationStore;
  afterEach(() => store.close());

  it("starts operations not done and finishes them with a response or an error", () => {
    store = new OperationStore();
    const succeeded = store.start(LOCATION, { "@type": "t", step: 1 });
    const failed = store.start(LOCATION, {});
    expect(succeeded).toEqual({ name: expect.stringMatching(/^projects\/p\/locations\/l\/operations\/[0-9a-f-]{36}$/), metadata: { "@type": "t", step: 1 } });
    store.finish(succeeded.name, { response: { ok: true } });
    store.finish(failed.name, { error: { code: 9, message: "no" } });
    expect(store.get(succeeded.name)).toMatchObject({ done: true, response: { ok: true } });
    expect(store.get(failed.name)).toMatchObject({ done: true, error: { code: 9, message: "no" } });
  });

  it("wakes a waiter when the operation finishes, and returns a pending one when the wait times out", async () => {
    store = new OperationStore();
    const operation = store.start(LOCATION, {});
    expect((await store.wait(operation.name, 5)).done).toBeUndefined();
    const waiting = store.wait(operation.name, 60_000);
    store.finish(operation.name, { response: {} });
    expect((await waiting).done).toBe(true);
  });

  it("lists by location with done filters and pages, and rejects other filters", () => {
    store = new OperationStore();
    const names = [1, 2, 3].map(() => store.start(LOCATION, {}).name);
    store.start({ project: "p", location: "elsewhere" }, {});
    store.finish(names[0]!, { response: {} });
    expect(store.list(LOCATION, {}).items).toHaveLength(3);
    expect(store.list(LOCATION, { filter: "done=true" }).items.map((operation) => operation.name)).toEqual([names[0]]);
    expect(store.list(LOCATION, { filter: " done = false " }).items).toHaveLength(2);
    const first = store.list(LOCATION, { pageSize: 2 });
    const second = store.list(LOCATION, { pageSize: 2, pageToken: first.nextPageToken });
    expect([...first.items, ...second.items].map((operation) => operation.name).sort()).toEqual([...names].sort());
    expect(second.nextPageToken).toBeUndefined();
    expect(() => store.list(LOCATION, { filter: "metadata.name=x" })).toThrow(ApiError);
    expect(() => store.list(LOCATION, { pageSize: -1 })).toThrow(ApiError);
  });

  it("forgets deleted operations, and finishing one later is harmless", () => {
    store = new OperationStore();
    const operation = store.start(LOCATION, {});
    store.delete(operation.name);
    expect(() => store.get(operation.name)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    expect(() => store.delete(operation.name)).toThrow(ApiError);
    store.finish(operation.name, { response: {} });
  });

  it("ends waits and delays at close, and later ones at once", async () => {
    store = new OperationStore();
    const operation = store.start(LOCATION, {});
    const waiting = store.wait(operation.name, 600_000);
    const delayed = store.delay(600_000);
    store.close();
    expect((await waiting).done).toBeUndefined();
    await delayed;
    await store.delay(600_000);
    await store.wait(operation.name, 600_000);
  });
});
