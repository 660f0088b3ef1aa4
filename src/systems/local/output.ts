/**
 * @module
 * Machine output on the driver: a machine process's stdout and stderr are cut into lines, each line is
 * written to the driver's output behind the machine's prefix, and kept in a bounded per-machine log
 * that `tail` replays and follows.
 */
import { StringDecoder } from "node:string_decoder";
import { LineLog, type LogLine } from "../../core.ts";

/** Longest line kept whole; longer ones are cut so a runaway line cannot grow memory without bound. */
export const MAX_LINE_CHARS = 64 * 1024;

/** Cuts a byte stream into lines (`\n` or `\r\n`), decoding UTF-8 across chunk boundaries. */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  readonly #maxChars: number;
  #pending = "";

  constructor(maxChars = MAX_LINE_CHARS) {
    this.#maxChars = maxChars;
  }

  /** Returns the lines completed by `chunk`, without their line ends. */
  push(chunk: Uint8Array | string): string[] {
    this.#pending += typeof chunk === "string" ? chunk : this.#decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const lines: string[] = [];
    let newline: number;
    while ((newline = this.#pending.indexOf("\n")) >= 0) {
      lines.push(...this.#cut(stripCarriageReturn(this.#pending.slice(0, newline))));
      this.#pending = this.#pending.slice(newline + 1);
    }
    while (this.#pending.length >= this.#maxChars) {
      lines.push(this.#pending.slice(0, this.#maxChars));
      this.#pending = this.#pending.slice(this.#maxChars);
    }
    return lines;
  }

  /** Returns what is left at the end of the stream (a last line without a line end), if anything. */
  end(): string[] {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = "";
    return rest === "" ? [] : this.#cut(stripCarriageReturn(rest));
  }

  #cut(line: string): string[] {
    if (line.length <= this.#maxChars) return [line];
    const parts: string[] = [];
    for (let i = 0; i < line.length; i += this.#maxChars) parts.push(line.slice(i, i + this.#maxChars));
    return parts;
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Formats one line of machine output for the driver's output: `[prefix] text`. */
export function prefixed(prefix: string, text: string): string {
  return `[${prefix}] ${text}\n`;
}

/** Options for {@link MachineOutput}. */
export interface MachineOutputOptions {
  /** The prefix lines carry until {@link MachineOutput.setPrefix} names the machine (e.g. `pid 1234`). */
  prefix: string;
  /** Where prefixed lines are written; `false` to keep them only for tail. */
  sink: NodeJS.WritableStream | false;
  /** Lines kept for tail. */
  capacity: number;
  /** Lines of stderr kept for exit messages; default 10. */
  stderrLines?: number;
}

/** The output of one machine process: prefixed to the driver's output, kept for tail. */
export class MachineOutput {
  /** The lines kept for tail, followable until the machine's streams end. */
  readonly log: LineLog;
  readonly #sink: NodeJS.WritableStream | false;
  readonly #recentStderr: string[] = [];
  readonly #stderrLines: number;
  #prefix: string;
  #open = 0;

  constructor(options: MachineOutputOptions) {
    this.#prefix = options.prefix;
    this.#sink = options.sink;
    this.log = new LineLog(options.capacity);
    this.#stderrLines = options.stderrLines ?? 10;
  }

  /** Changes the prefix of lines from now on (once the machine's address is known). */
  setPrefix(prefix: string): void {
    this.#prefix = prefix;
  }

  /** Follows `stream` as the machine's `name` stream; the log ends once every attached stream has ended. */
  attach(stream: NodeJS.ReadableStream, name: "stdout" | "stderr"): void {
    const splitter = new LineSplitter();
    this.#open++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const text of splitter.end()) this.line(name, text);
      if (--this.#open === 0) this.log.end();
    };
    stream.on("data", (chunk: Buffer | string) => {
      for (const text of splitter.push(chunk)) this.line(name, text);
    });
    stream.on("end", finish);
    stream.on("close", finish);
    stream.on("error", finish);
  }

  /** Records one line: written to the sink with the prefix, kept for tail. */
  line(stream: "stdout" | "stderr", text: string): void {
    const entry: LogLine = { stream, text, time: new Date() };
    this.log.push(entry);
    if (stream === "stderr") {
      this.#recentStderr.push(text);
      if (this.#recentStderr.length > this.#stderrLines) this.#recentStderr.shift();
    }
    if (this.#sink) this.#sink.write(prefixed(this.#prefix, text));
  }

  /** Writes a line of the driver's own about this machine (not kept for tail). */
  note(text: string): void {
    if (this.#sink) this.#sink.write(prefixed(this.#prefix, text));
  }

  /** The machine's last few stderr lines, oldest first. */
  recentStderr(): string[] {
    return [...this.#recentStderr];
  }

  /** Ends the log now, even if streams are still open (e.g. a grandchild holds them). */
  end(): void {
    this.log.end();
  }
}
