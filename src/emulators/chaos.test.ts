/** Seeded randomness and the chaos settings: the same seed gives the same faults, each kind on its own stream. */
import { describe, expect, it } from "vitest";
import { Chaos, CHAOS_DEFAULTS } from "./chaos.ts";
import { randomIntervalMs, seededRandom } from "./random.ts";

const take = (next: () => number, n = 5) => Array.from({ length: n }, next);

describe("seededRandom", () => {
  it("repeats its sequence for the same seed and stream, and differs otherwise", () => {
    const a = take(seededRandom("42", "one"));
    expect(take(seededRandom("42", "one"))).toEqual(a);
    expect(take(seededRandom("43", "one"))).not.toEqual(a);
    expect(take(seededRandom("42", "two"))).not.toEqual(a);
    for (const x of take(seededRandom("42", "one"), 1000)) expect(x >= 0 && x < 1).toBe(true);
  });

  it("spreads its draws over [0, 1)", () => {
    const draws = take(seededRandom("spread", "s"), 10_000);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });
});

describe("randomIntervalMs", () => {
  it("averages a minute over the rate, and never comes for a rate of 0", () => {
    const next = seededRandom("intervals", "s");
    const intervals = Array.from({ length: 10_000 }, () => randomIntervalMs(next, 6)!);
    const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
    expect(mean).toBeGreaterThan(9_000);
    expect(mean).toBeLessThan(11_000);
    expect(randomIntervalMs(next, 0)).toBeUndefined();
  });
});

describe("Chaos", () => {
  it("draws the same faults from the same seed, each kind unaffected by the others' rates", () => {
    const a = new Chaos({ seed: 7, coldStartMaxDelayMs: 1_000 });
    const b = new Chaos({ seed: "7", coldStartMaxDelayMs: 1_000, webSocketDropsPerMinute: 0 });
    expect(take(() => a.coldStartDelayMs())).toEqual(take(() => b.coldStartDelayMs()));
    expect(take(() => a.idleReclaimDelayMs()!)).toEqual(take(() => b.idleReclaimDelayMs()!));
    expect(b.webSocketDropDelayMs()).toBeUndefined();
    for (const delay of take(() => a.coldStartDelayMs(), 100)) expect(delay >= 0 && delay <= 1_000).toBe(true);
  });

  it("uses the default rates when only a seed is given, and names seed and rates in one line", () => {
    const chaos = new Chaos({ seed: "s" });
    expect(chaos).toMatchObject(CHAOS_DEFAULTS);
    expect(new Chaos({ seed: 99, idleReclaimsPerMinute: 2, webSocketDropsPerMinute: 3, coldStartMaxDelayMs: 4 }).describe()).toBe(
      "chaos seed 99: idle instances reclaimed 2/min each, WebSockets dropped 3/min each, cold starts delayed up to 4 ms",
    );
  });

  it("refuses negative or non-numeric rates", () => {
    expect(() => new Chaos({ seed: 1, idleReclaimsPerMinute: -1 })).toThrow(RangeError);
    expect(() => new Chaos({ seed: 1, coldStartMaxDelayMs: Number.NaN })).toThrow(RangeError);
  });
});
