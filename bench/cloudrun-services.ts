/**
 * @module
 * The services of the Cloud Run benchmark (`bench/cloudrun.ts`), registered by importing this module:
 * the driver imports it to install them, and the program it ships to machines
 * (`bench/cloudrun-program.ts`) imports it to serve them. The same bundled program runs on the local
 * system's machines, so both systems run the same code.
 */
import { registerService, type Session } from "../src/index.ts";

/** When this module was evaluated in this process (epoch ms): the program has been loaded and parsed. */
const LOADED_AT = Date.now();

/** When a machine's program had been loaded, epoch milliseconds. */
export interface ProcessTimes {
  /** When the program's modules had been evaluated (this one among the first). */
  loadedAt: number;
}

/** Echo and byte streams, as in the RPC benchmark. */
export class Bench {
  echo(arg: unknown): unknown {
    return arg;
  }

  /** `count` items of `size` bytes. */
  stream(arg: { count: number; size: number }): AsyncIterable<Uint8Array> {
    const chunk = new Uint8Array(arg.size).fill(7);
    return (async function* () {
      for (let i = 0; i < arg.count; i++) yield chunk;
    })();
  }

  /** Swallows a stream and answers how many bytes it carried. */
  async sink(chunks: AsyncIterable<Uint8Array>): Promise<number> {
    let bytes = 0;
    for await (const chunk of chunks) bytes += chunk.byteLength;
    return bytes;
  }

  /** The machine's process id, to account for its CPU time. */
  pid(): number {
    return process.pid;
  }

  /** When this machine had loaded its program. */
  times(): ProcessTimes {
    return { loadedAt: LOADED_AT };
  }
}

/** Pulls a byte stream from another machine, dialed by its address through the machine's own session. */
export class BenchRelay {
  #session: Session | undefined;

  init(session: Session): void {
    this.#session = session;
  }

  /** Dials `addr`, reads `count` items of `size` bytes from its `Bench.stream`, and answers the bytes read. */
  async pull(arg: { addr: string; count: number; size: number }): Promise<number> {
    const other = this.#session!.dial(arg.addr);
    const stream = await other.call<AsyncIterable<Uint8Array>>("Bench.stream", { count: arg.count, size: arg.size });
    let bytes = 0;
    for await (const chunk of stream) bytes += chunk.byteLength;
    return bytes;
  }
}

registerService("Bench", Bench);
registerService("BenchRelay", BenchRelay);
