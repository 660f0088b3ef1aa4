/**
 * @module
 * Random faults of an unkind cloud, seeded so a failure can be reproduced: idle instances reclaimed at
 * random moments (Cloud Run may shut down any idle instance at any time), WebSockets dropped before
 * their request timeout, and cold starts of varying length. Each fault draws from its own stream of
 * the seed, so the Nth reclaim delay of a run is the same whatever the other rates are.
 */
import { randomIntervalMs, seededRandom, type Random } from "./random.ts";

/** Options of the chaos mode; every rate is optional and defaults to {@link CHAOS_DEFAULTS}. */
export interface ChaosOptions {
  /** The seed: the same seed gives the same sequence of fault delays. */
  seed: string | number;
  /** Reclaims per minute of each idle instance, on average (0 turns the fault off). */
  idleReclaimsPerMinute?: number;
  /** Drops per minute of each open WebSocket, on average (0 turns the fault off). */
  webSocketDropsPerMinute?: number;
  /** Each new instance's start is delayed by a random time up to this (0 turns the fault off). */
  coldStartMaxDelayMs?: number;
}

/** The rates chaos runs with when only a seed is given: each fault happens every few minutes. */
export const CHAOS_DEFAULTS = {
  idleReclaimsPerMinute: 0.5,
  webSocketDropsPerMinute: 0.2,
  coldStartMaxDelayMs: 5_000,
} as const;

/** Seeded fault draws, one stream per kind of fault. */
export class Chaos {
  readonly seed: string;
  readonly idleReclaimsPerMinute: number;
  readonly webSocketDropsPerMinute: number;
  readonly coldStartMaxDelayMs: number;
  readonly #reclaims: Random;
  readonly #drops: Random;
  readonly #coldStarts: Random;

  constructor(options: ChaosOptions) {
    this.seed = String(options.seed);
    this.idleReclaimsPerMinute = checkedRate("idleReclaimsPerMinute", options.idleReclaimsPerMinute ?? CHAOS_DEFAULTS.idleReclaimsPerMinute);
    this.webSocketDropsPerMinute = checkedRate("webSocketDropsPerMinute", options.webSocketDropsPerMinute ?? CHAOS_DEFAULTS.webSocketDropsPerMinute);
    this.coldStartMaxDelayMs = checkedRate("coldStartMaxDelayMs", options.coldStartMaxDelayMs ?? CHAOS_DEFAULTS.coldStartMaxDelayMs);
    this.#reclaims = seededRandom(this.seed, "idle-reclaim");
    this.#drops = seededRandom(this.seed, "websocket-drop");
    this.#coldStarts = seededRandom(this.seed, "cold-start");
  }

  /** How long an instance that just became idle may stay idle before it is reclaimed; undefined: never. */
  idleReclaimDelayMs(): number | undefined {
    return randomIntervalMs(this.#reclaims, this.idleReclaimsPerMinute);
  }

  /** How long a WebSocket that just opened lives before it is dropped; undefined: until its timeout. */
  webSocketDropDelayMs(): number | undefined {
    return randomIntervalMs(this.#drops, this.webSocketDropsPerMinute);
  }

  /** The extra delay before the next new instance starts. */
  coldStartDelayMs(): number {
    return this.coldStartMaxDelayMs > 0 ? Math.round(this.#coldStarts() * this.coldStartMaxDelayMs) : 0;
  }

  /** One line naming the seed and every rate, for a user to reproduce the run. */
  describe(): string {
    return (
      `chaos seed ${this.seed}: idle instances reclaimed ${this.idleReclaimsPerMinute}/min each, ` +
      `WebSockets dropped ${this.webSocketDropsPerMinute}/min each, cold starts delayed up to ${this.coldStartMaxDelayMs} ms`
    );
  }
}

function checkedRate(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`chaos.${name} must be a number at least 0, got ${value}`);
  return value;
}
