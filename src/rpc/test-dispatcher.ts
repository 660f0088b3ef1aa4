/**
 * @module
 * A dispatcher for the RPC layer's own tests: a `T` service whose methods echo, fail, hang until
 * canceled and stream, and that records what it saw (aborted signals, items produced) so tests can
 * assert on the far side. Not part of the public API. @internal
 */
import { errorOf, type ErrorKind, type Severity } from "../errors.ts";
import type { CallContext, Dispatcher } from "./types.ts";

/** What the test service observed. */
export interface TestServiceLog {
  /** Calls dispatched, by method. */
  calls: Map<string, number>;
  /** The abort reasons of signals that aborted, by method. */
  aborted: { method: string; reason: unknown }[];
  /** Items produced by streaming methods so far. */
  produced: number;
  /** Items consumed from streamed arguments so far. */
  consumed: number;
  /** Streaming methods whose producer was released early (`finally` ran before the end). */
  released: number;
}

/** Makes the test dispatcher and its log. */
export function testDispatcher(): { dispatcher: Dispatcher; log: TestServiceLog } {
  const log: TestServiceLog = { calls: new Map(), aborted: [], produced: 0, consumed: 0, released: 0 };

  const waitForAbort = (ctx: CallContext) =>
    new Promise<never>((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => {
        log.aborted.push({ method: ctx.method, reason: ctx.signal.reason });
        reject(ctx.signal.reason);
      });
    });

  async function* count(n: number, failAt?: number): AsyncGenerator<number> {
    let finished = false;
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw errorOf("unavailable", `producer failed at item ${i}`);
        log.produced++;
        yield i;
      }
      finished = true;
    } finally {
      if (!finished) log.released++;
    }
  }

  async function* bytes(count: number, size: number): AsyncGenerator<Uint8Array> {
    let finished = false;
    try {
      for (let i = 0; i < count; i++) {
        log.produced++;
        yield new Uint8Array(size).fill(i & 0xff);
      }
      finished = true;
    } finally {
      if (!finished) log.released++;
    }
  }

  const methods: Record<string, (arg: any, ctx: CallContext) => unknown> = {
    "T.echo": (arg) => arg,
    "T.fail": (arg: { kind: ErrorKind; message: string; severity?: Severity }) => {
      throw errorOf(arg.kind, arg.message, { severity: arg.severity });
    },
    "T.throwPlain": () => {
      throw new TypeError("plain failure");
    },
    "T.hang": (_arg, ctx) => waitForAbort(ctx),
    "T.big": (n: number) => new Uint8Array(n),
    "T.count": (arg: { n: number; failAt?: number }) => count(arg.n, arg.failAt),
    "T.bytes": (arg: { count: number; size: number }) => bytes(arg.count, arg.size),
    "T.sum": async (stream: AsyncIterable<number>) => {
      let sum = 0;
      for await (const x of stream) {
        log.consumed++;
        sum += x;
      }
      return sum;
    },
    "T.byteLength": async (stream: AsyncIterable<Uint8Array>) => {
      let total = 0;
      for await (const chunk of stream) {
        log.consumed++;
        total += chunk.byteLength;
      }
      return total;
    },
    "T.takeOne": async (stream: AsyncIterable<unknown>) => {
      for await (const x of stream) {
        log.consumed++;
        return x;
      }
      return undefined;
    },
    "T.slowSum": async (stream: AsyncIterable<number>, ctx) => {
      // Reads one item, then waits to be canceled with the stream still open: a consumer that never
      // catches up (breaking out of the loop would stop the producer instead).
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      log.consumed++;
      return waitForAbort(ctx);
    },
    "T.double": (stream: AsyncIterable<number>) =>
      (async function* () {
        for await (const x of stream) yield 2 * x;
      })(),
  };

  return {
    log,
    dispatcher: {
      async dispatch(method, arg, ctx) {
        log.calls.set(method, (log.calls.get(method) ?? 0) + 1);
        const fn = methods[method];
        if (fn === undefined) throw errorOf("not-exist", `no method ${method}`, { severity: "fatal" });
        return fn(arg, ctx);
      },
    },
  };
}

/** Waits until `read()` has not changed for `quietMs` (bounded by `timeoutMs`), then returns it. */
export async function settledValue(read: () => number, quietMs = 50, timeoutMs = 5_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = read();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error("value never settled");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return last;
}
