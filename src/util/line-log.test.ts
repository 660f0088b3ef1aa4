import { describe, expect, it } from "vitest";
import { LineLog } from "./line-log.ts";

const texts = async (it: AsyncIterable<{ text: string }>) => {
  const out: string[] = [];
  for await (const l of it) out.push(l.text);
  return out;
};

describe("LineLog", () => {
  it("replays kept lines then follows until the log ends", async () => {
    const log = new LineLog(10);
    log.push({ text: "a" });
    const reading = texts(log.follow());
    log.push({ text: "b" });
    setTimeout(() => { log.push({ text: "c" }); log.end(); }, 5);
    expect(await reading).toEqual(["a", "b", "c"]);
  });

  it("keeps only the newest lines", async () => {
    const log = new LineLog(2);
    for (const t of ["1", "2", "3"]) log.push({ text: t });
    log.end();
    expect(await texts(log.follow())).toEqual(["2", "3"]);
  });

  it("stops following when the signal aborts", async () => {
    const log = new LineLog();
    const controller = new AbortController();
    const reading = texts(log.follow(controller.signal));
    log.push({ text: "x" });
    setTimeout(() => controller.abort(), 5);
    expect(await reading).toEqual(["x"]);
  });
});
