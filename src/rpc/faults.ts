/**
 * @module
 * Fault injection for tests: makes a peer's outgoing calls fail as a flaky network would, before they
 * are sent, so retry logic can be exercised without breaking real links (Go bigmachine's
 * `InjectFailures`).
 */
import { errorOf, type BigmachineError } from "../errors.ts";

/** Makes a peer's outgoing calls fail like a flaky network. */
export interface FaultInjector {
  /** The next `n` calls fail with kind `net`, severity `temporary`, before sending. */
  failNext(n: number): void;
  /** Each call fails with probability `p` (0 disables). */
  setFailureRate(p: number): void;
  /** Removes every injected fault. */
  reset(): void;
}

/** The injector a peer consults before each call. @internal */
export class CallFaults implements FaultInjector {
  #failNext = 0;
  #rate = 0;

  failNext(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw errorOf("invalid", `failNext: want a count >= 0, got ${n}`, { severity: "fatal" });
    this.#failNext = n;
  }

  setFailureRate(p: number): void {
    if (!(p >= 0 && p <= 1)) throw errorOf("invalid", `setFailureRate: want a probability in [0, 1], got ${p}`, { severity: "fatal" });
    this.#rate = p;
  }

  reset(): void {
    this.#failNext = 0;
    this.#rate = 0;
  }

  /** The injected failure for a call of `method`, if this call is to fail. */
  check(method: string): BigmachineError | undefined {
    if (this.#failNext > 0) {
      this.#failNext--;
    } else if (this.#rate === 0 || Math.random() >= this.#rate) {
      return undefined;
    }
    return errorOf("net", `${method}: injected network fault`);
  }
}
