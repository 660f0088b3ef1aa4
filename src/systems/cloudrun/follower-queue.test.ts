import { describe, expect, it } from "vitest";
import type { LogLine } from "../../core.ts";
import { FollowerQueue } from "./follower-queue.ts";

const line = (text: string, ms = 0): LogLine => ({ text, time: new Date(ms) });

async function drain(queue: FollowerQueue): Promise<string[]> {
  const texts: string[] = [];
  for await (const read of queue) texts.push(read.text);
  return texts;
}

describe("FollowerQueue", () => {
  it("hands a waiting reader the next line at once", async () => {
    const queue = new FollowerQueue({ capacity: 2 });
    const waiting = queue.next();
    expect(queue.push(line("a"))).toBe(true);
    expect(await waiting).toEqual({ value: line("a"), done: false });
  });

  it("drops lines while full and marks the gap once, with the first dropped line's time", async () => {
    const queue = new FollowerQueue({ capacity: 2, describeDrop: (count) => `dropped ${count}` });
    const accepted = [1, 2, 3, 4, 5].map((n) => queue.push(line(`l${n}`, n)));
    expect(accepted).toEqual([true, true, false, false, false]);
    expect(await queue.next()).toEqual({ value: line("l1", 1), done: false });
    // Room again: the gap goes before the next line.
    expect(queue.push(line("l6", 6))).toBe(true);
    queue.end();
    const rest: LogLine[] = [];
    for await (const read of queue) rest.push(read);
    expect(rest).toEqual([line("l2", 2), { text: "dropped 3", time: new Date(3) }, line("l6", 6)]);
  });

  it("marks a gap at the end of what is queued", async () => {
    const queue = new FollowerQueue({ capacity: 1, describeDrop: (count) => `dropped ${count}` });
    queue.push(line("a"));
    queue.push(line("b"));
    queue.end();
    expect(await drain(queue)).toEqual(["a", "dropped 1"]);
  });

  it("ends after the queued lines, or throws the end's error after them", async () => {
    const plain = new FollowerQueue({ capacity: 5 });
    plain.push(line("a"));
    plain.end();
    expect(plain.push(line("late"))).toBe(false);
    expect(await drain(plain)).toEqual(["a"]);

    const failing = new FollowerQueue({ capacity: 5 });
    failing.push(line("a"));
    const error = new Error("gone");
    failing.end(error);
    expect((await failing.next()).value?.text).toBe("a");
    await expect(failing.next()).rejects.toBe(error);
    expect(await failing.next()).toEqual({ value: undefined, done: true });
  });

  it("ends at once on abort or return, dropping what is queued, and detaches once", async () => {
    let detached = 0;
    const abort = new AbortController();
    const queue = new FollowerQueue({ capacity: 5, signal: abort.signal, onDetach: () => detached++ });
    queue.push(line("queued"));
    expect((await queue.next()).value?.text).toBe("queued");
    const waiting = queue.next();
    abort.abort();
    expect(await waiting).toEqual({ value: undefined, done: true });
    await queue.return();
    expect(detached).toBe(1);
    expect(queue.push(line("after"))).toBe(false);

    let returned = 0;
    const other = new FollowerQueue({ capacity: 5, onDetach: () => returned++ });
    other.push(line("queued"));
    await other.return();
    expect(await other.next()).toEqual({ value: undefined, done: true });
    expect(returned).toBe(1);
  });

  it("is over from the start, without detaching, when its signal has already aborted", async () => {
    let detached = 0;
    const queue = new FollowerQueue({ capacity: 1, signal: AbortSignal.abort(), onDetach: () => detached++ });
    expect(queue.open).toBe(false);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(detached).toBe(0);
  });

  it("refuses a second next() while one is pending", async () => {
    const queue = new FollowerQueue({ capacity: 1 });
    const first = queue.next();
    await expect(queue.next()).rejects.toThrow(/pending/);
    queue.end();
    expect(await first).toEqual({ value: undefined, done: true });
  });
});
