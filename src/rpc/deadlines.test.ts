import { describe, expect, it } from "vitest";
import { deadlines, type Expiring } from "./deadlines.ts";
import { waitUntil } from "../../test/helpers.ts";

function entry(name: string, inMs: number, expired: string[]): Expiring {
  return { deadlineAt: performance.now() + inMs, deadlineSlot: -1, expire: () => expired.push(name) };
}

describe("deadlines", () => {
  it("expires entries in deadline order, skips removed ones, and empties", async () => {
    const expired: string[] = [];
    const entries = [entry("c", 30, expired), entry("a", 5, expired), entry("removed", 10, expired), entry("b", 15, expired)];
    for (const e of entries) deadlines.add(e);
    expect(deadlines.size).toBe(4);
    deadlines.remove(entries[2]);
    deadlines.remove(entries[2]); // idempotent
    expect(entries[2].deadlineSlot).toBe(-1);
    await waitUntil("three expiries", () => expired.length === 3);
    expect(expired).toEqual(["a", "b", "c"]);
    expect(deadlines.size).toBe(0);
  });

  it("keeps heap order through many adds and removals", () => {
    const expired: string[] = [];
    const entries = Array.from({ length: 200 }, (_, i) => entry(String(i), 60_000 + ((i * 7919) % 200), expired));
    for (const e of entries) deadlines.add(e);
    for (let i = 0; i < entries.length; i += 3) deadlines.remove(entries[i]);
    const remaining = entries.filter((_, i) => i % 3 !== 0);
    expect(deadlines.size).toBe(remaining.length);
    for (const e of remaining) expect(e.deadlineSlot).toBeGreaterThanOrEqual(0);
    for (const e of remaining) deadlines.remove(e);
    expect(deadlines.size).toBe(0);
    expect(expired).toEqual([]);
  });
});
