/**
 * @module
 * The machine's watchdog: it ends the machine when the driver's keepalives stop, so a crashed driver
 * leaves nothing running (or billed) beyond the keepalive timeout.
 */

/** A deadline that keepalives push forward; when it passes, `onExpire` runs once. */
export class Watchdog {
  #timer: NodeJS.Timeout | undefined;
  #deadline = 0;
  #expired = false;
  #firstWindow = true;
  readonly #onExpire: () => void;

  /** Arms the watchdog with a first window (made generous: the driver may still be starting machines). */
  constructor(firstWindowMs: number, onExpire: () => void) {
    this.#onExpire = onExpire;
    this.#deadline = Date.now() + firstWindowMs;
    this.#timer = setTimeout(() => this.#fire(), firstWindowMs);
  }

  /**
   * Moves the deadline to `windowMs` from now and returns it (epoch ms). It never shortens the deadline,
   * except that the first keepalive replaces the generous first window: from then on the driver's
   * keepalive timeout alone decides how long a silent driver's machine lives.
   */
  extend(windowMs: number): number {
    if (this.#expired) return this.#deadline;
    const deadline = Date.now() + windowMs;
    const first = this.#firstWindow;
    this.#firstWindow = false;
    if (deadline <= this.#deadline && !first) return this.#deadline;
    this.#deadline = deadline;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#fire(), windowMs);
    return deadline;
  }

  /** The current deadline, in epoch milliseconds. */
  get deadline(): number {
    return this.#deadline;
  }

  get expired(): boolean {
    return this.#expired;
  }

  /** Disarms the watchdog for good (the machine is ending anyway). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    // Timers can fire early by a hair; re-arm if the deadline has not quite passed.
    const left = this.#deadline - Date.now();
    if (left > 0) {
      this.#timer = setTimeout(() => this.#fire(), left);
      return;
    }
    this.#expired = true;
    this.#timer = undefined;
    this.#onExpire();
  }
}
