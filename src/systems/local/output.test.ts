import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { LineSplitter, MachineOutput, prefixed } from "./output.ts";

async function texts(lines: AsyncIterable<{ text: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line.text);
  return out;
}

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join("") };
}

describe("LineSplitter", () => {
  it("cuts lines across chunks and strips CRLF", () => {
    const s = new LineSplitter();
    expect(s.push("ab")).toEqual([]);
    expect(s.push("c\nde\r\nf")).toEqual(["abc", "de"]);
    expect(s.push("\n\n")).toEqual(["f", ""]);
    expect(s.end()).toEqual([]);
  });

  it("keeps a last line without a line end for the end of the stream", () => {
    const s = new LineSplitter();
    expect(s.push("done")).toEqual([]);
    expect(s.end()).toEqual(["done"]);
  });

  it("decodes UTF-8 split between chunks", () => {
    const s = new LineSplitter();
    const bytes = Buffer.from("π≈3\n");
    expect(s.push(bytes.subarray(0, 1))).toEqual([]);
    expect(s.push(bytes.subarray(1))).toEqual(["π≈3"]);
  });

  it("cuts a runaway line into bounded pieces", () => {
    const s = new LineSplitter(4);
    expect(s.push("abcdefghij")).toEqual(["abcd", "efgh"]);
    expect(s.push("\n")).toEqual(["ij"]);
    expect(new LineSplitter(3).push("abcdefg\n")).toEqual(["abc", "def", "g"]);
  });
});

describe("MachineOutput", () => {
  it("prefixes lines to the sink, keeps them for tail, and ends when every stream ends", async () => {
    const out = sink();
    const output = new MachineOutput({ prefix: "pid 7", sink: out.stream, capacity: 10 });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    output.attach(stdout, "stdout");
    output.attach(stderr, "stderr");
    stdout.write("early\n");
    output.setPrefix("127.0.0.1:4567");
    stderr.write("oops\npartial");
    stdout.end("late\n");
    const following = texts(output.log.follow());
    stderr.end();
    expect(await following).toEqual(["early", "oops", "late", "partial"]);
    expect(out.text()).toBe(prefixed("pid 7", "early") + prefixed("127.0.0.1:4567", "oops") + prefixed("127.0.0.1:4567", "late") + prefixed("127.0.0.1:4567", "partial"));
    expect(output.recentStderr()).toEqual(["oops", "partial"]);
    expect(output.log.lines().map((l) => l.stream)).toEqual(["stdout", "stderr", "stdout", "stderr"]);
  });

  it("keeps only the newest lines and the last few stderr lines", () => {
    const output = new MachineOutput({ prefix: "m", sink: false, capacity: 3, stderrLines: 2 });
    for (const t of ["1", "2", "3", "4"]) output.line("stderr", t);
    expect(output.log.lines().map((l) => l.text)).toEqual(["2", "3", "4"]);
    expect(output.recentStderr()).toEqual(["3", "4"]);
  });

  it("writes notes to the sink without keeping them for tail", () => {
    const out = sink();
    const output = new MachineOutput({ prefix: "m1", sink: out.stream, capacity: 3 });
    output.note("failed to start");
    expect(out.text()).toBe("[m1] failed to start\n");
    expect(output.log.lines()).toEqual([]);
  });
});
