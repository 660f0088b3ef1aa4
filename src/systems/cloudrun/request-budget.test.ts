import { describe, expect, it } from "vitest";
import { BUDGET_WINDOW_MS, RequestBudget } from "./request-budget.ts";

describe("RequestBudget", () => {
  it("allows perMinute requests in any sliding minute, then says how long to wait", () => {
    let now = 1_000_000;
    const budget = new RequestBudget(3, () => now);
    for (let i = 0; i < 3; i++) {
      expect(budget.waitMs()).toBe(0);
      budget.spend();
      now += 1_000;
    }
    // Requests at 0 s, 1 s, 2 s; it is 3 s: the first leaves the window at 60 s.
    expect(budget.waitMs()).toBe(BUDGET_WINDOW_MS - 3_000);
    now += BUDGET_WINDOW_MS - 3_000;
    expect(budget.waitMs()).toBe(0);
    budget.spend();
    expect(budget.waitMs()).toBe(1_000);
  });

  it("refuses a budget below one request", () => {
    expect(() => new RequestBudget(0, Date.now)).toThrow(RangeError);
  });
});
