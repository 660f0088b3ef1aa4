/**
 * @module
 * A bounded log of lines that readers can follow: what a system keeps of each machine's output so
 * `tail` can replay recent lines and then follow new ones.
 */
import type { LogLine } from "../system.ts";

/** A bounded, followable log of lines. */
export class LineLog {
  readonly #lines: LogLine[] = [];
  readonly #capacity: number;
  #dropped = 0;
  #ended = false;
  #wake: (() => void)[] = [];

  constructor(capacity = 1_000) {
    this.#capacity = capacity;
  }

  /** Appends a line, dropping the oldest beyond capacity, and wakes followers. */
  push(line: LogLine): void {
    if (this.#ended) return;
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) {
      this.#lines.shift();
      this.#dropped++;
    }
    this.#notify();
  }

  /** Marks the log complete: followers finish after the last line. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The lines kept now, oldest first. */
  lines(): LogLine[] {
    return [...this.#lines];
  }

  /** Yields the kept lines, then new ones as they come, until the log ends or `signal` aborts. */
  async *follow(signal?: AbortSignal): AsyncGenerator<LogLine> {
    // Positions are absolute (dropped + index) so a reader that falls behind skips, never repeats.
    let next = this.#dropped;
    for (;;) {
      while (next < this.#dropped + this.#lines.length) {
        if (signal?.aborted) return;
        if (next < this.#dropped) next = this.#dropped;
        yield this.#lines[next - this.#dropped];
        next++;
      }
      if (this.#ended || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.#wake.push(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}
