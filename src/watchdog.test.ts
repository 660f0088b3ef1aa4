import { afterEach, describe, expect, it, vi } from "vitest";
import { Watchdog } from "./watchdog.ts";

describe("Watchdog", () => {
  afterEach(() => vi.useRealTimers());

  it("fires once after the window unless extended", () => {
    vi.useFakeTimers();
    let fired = 0;
    const w = new Watchdog(1_000, () => fired++);
    vi.advanceTimersByTime(900);
    w.extend(1_000);
    vi.advanceTimersByTime(900);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(200);
    expect(fired).toBe(1);
    expect(w.expired).toBe(true);
    w.extend(5_000);
    vi.advanceTimersByTime(10_000);
    expect(fired).toBe(1);
  });

  it("lets the first keepalive replace the first window, then never shortens the deadline", () => {
    vi.useFakeTimers();
    let fired = 0;
    const w = new Watchdog(60_000, () => fired++);
    const firstWindow = w.deadline;
    expect(w.extend(1_000)).toBeLessThan(firstWindow);
    const d = w.deadline;
    expect(w.extend(100)).toBe(d);
    vi.advanceTimersByTime(1_001);
    expect(fired).toBe(1);
  });

  it("can be stopped", () => {
    vi.useFakeTimers();
    let fired = 0;
    const w = new Watchdog(10_000, () => fired++);
    w.stop();
    vi.advanceTimersByTime(20_000);
    expect(fired).toBe(0);
  });
});
