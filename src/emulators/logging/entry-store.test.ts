import { describe, expect, it } from "vitest";
import { EntryStore, type StoreQuery } from "./entry-store.ts";

function stored(second: number, insertId: string, parent = "projects/p", visibleAtMs = 0) {
  const timeKey = `2026-03-01T10:00:${String(second).padStart(2, "0")}.000000000Z`;
  const entry = { logName: `${parent}/logs/a`, resource: { type: "global", labels: {} }, insertId };
  return { entry, parent, timeKey, insertId, visibleAtMs };
}

const everything: StoreQuery = {
  parents: new Set(["projects/p"]),
  matches: () => true,
  descending: false,
  limit: 100,
  nowMs: 0,
};

const ids = (result: { entries: { insertId: string }[] }) => result.entries.map((e) => e.insertId);

describe("EntryStore", () => {
  it("keeps entries in timestamp order, then insertId, whatever the arrival order", () => {
    const store = new EntryStore(100);
    store.add(stored(3, "c"));
    store.add(stored(1, "b"));
    store.add(stored(1, "a"));
    store.add(stored(2, "z"));
    expect(ids(store.query(everything))).toEqual(["a", "b", "z", "c"]);
    expect(ids(store.query({ ...everything, descending: true }))).toEqual(["c", "z", "b", "a"]);
  });

  it("drops an entry with the same parent, timestamp and insertId as a stored one", () => {
    const store = new EntryStore(100);
    expect(store.add(stored(1, "a"))).toBe(true);
    expect(store.add(stored(1, "a"))).toBe(false);
    expect(store.add(stored(2, "a"))).toBe(true);
    expect(store.add(stored(1, "a", "projects/q"))).toBe(true);
    expect(store.size).toBe(3);
  });

  it("drops the oldest entries by timestamp past its cap, and forgets them for deduplication", () => {
    const store = new EntryStore(3);
    for (const [second, id] of [[5, "e"], [1, "a"], [3, "c"], [4, "d"]] as const) store.add(stored(second, id));
    expect(store.size).toBe(3);
    expect(ids(store.query(everything))).toEqual(["c", "d", "e"]);
    store.maxEntries = 4;
    expect(store.add(stored(1, "a"))).toBe(true);
  });

  it("returns only visible entries of the asked parents that match", () => {
    const store = new EntryStore(100);
    store.add(stored(1, "a"));
    store.add(stored(2, "b", "projects/q"));
    store.add(stored(3, "c", "projects/p", 1000));
    store.add(stored(4, "d"));
    expect(ids(store.query(everything))).toEqual(["a", "d"]);
    expect(ids(store.query({ ...everything, nowMs: 1000 }))).toEqual(["a", "c", "d"]);
    expect(ids(store.query({ ...everything, parents: new Set(["projects/p", "projects/q"]) }))).toEqual(["a", "b", "d"]);
    expect(ids(store.query({ ...everything, matches: (e) => e.insertId !== "a" }))).toEqual(["d"]);
  });

  it("pages from a cursor in either direction, reporting whether more match", () => {
    const store = new EntryStore(100);
    for (const [second, id] of [[1, "a"], [2, "b"], [2, "c"], [3, "d"], [4, "e"]] as const) store.add(stored(second, id));
    const first = store.query({ ...everything, limit: 2 });
    expect(ids(first)).toEqual(["a", "b"]);
    expect(first.more).toBe(true);
    const second = store.query({ ...everything, limit: 2, after: first.entries[1] });
    expect(ids(second)).toEqual(["c", "d"]);
    const last = store.query({ ...everything, limit: 2, after: second.entries[1] });
    expect(ids(last)).toEqual(["e"]);
    expect(last.more).toBe(false);

    const down = store.query({ ...everything, descending: true, limit: 2 });
    expect(ids(down)).toEqual(["e", "d"]);
    expect(ids(store.query({ ...everything, descending: true, limit: 2, after: down.entries[1] }))).toEqual(["c", "b"]);
  });

  it("resumes correctly after a cursor entry that has since been evicted", () => {
    const store = new EntryStore(100);
    for (const [second, id] of [[1, "a"], [2, "b"], [3, "c"]] as const) store.add(stored(second, id));
    const cursor = store.query({ ...everything, limit: 1, descending: true }).entries[0]; // "c"
    store.clear();
    for (const [second, id] of [[1, "a"], [2, "b"], [4, "d"]] as const) store.add(stored(second, id));
    expect(ids(store.query({ ...everything, descending: true, after: cursor }))).toEqual(["b", "a"]);
    expect(ids(store.query({ ...everything, after: cursor }))).toEqual(["d"]);
  });
});
