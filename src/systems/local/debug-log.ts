/**
 * @module
 * System events of the local system, recorded only when debugging is on (`BIGMACHINE_DEBUG`): one JSON
 * object a line, appended to `BIGMACHINE_DEBUG_LOG` or written to the driver's output.
 */
import { appendFileSync } from "node:fs";

/** Where events go: a file, a stream, or nowhere. */
export interface DebugLogOptions {
  enabled: boolean;
  file?: string;
  stream: NodeJS.WritableStream | false;
}

/** Records events as JSON lines when enabled; drops them otherwise. */
export class DebugLog {
  readonly #options: DebugLogOptions;
  #failed = false;

  constructor(options: DebugLogOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#options.enabled;
  }

  /** Records one event; never throws (a broken debug log must not break the session). */
  record(type: string, fields: Record<string, unknown>): void {
    if (!this.#options.enabled || this.#failed) return;
    const line = `${JSON.stringify({ time: new Date().toISOString(), pid: process.pid, type, ...fields }, jsonSafe)}\n`;
    try {
      // Appending synchronously keeps events in order and lands them even if the process dies next.
      if (this.#options.file) appendFileSync(this.#options.file, line);
      else if (this.#options.stream) this.#options.stream.write(`bigmachine:event ${line}`);
    } catch (err) {
      this.#failed = true;
      process.stderr.write(`bigmachine: debug log disabled: ${(err as Error).message}\n`);
    }
  }
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
