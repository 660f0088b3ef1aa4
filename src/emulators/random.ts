/**
 * @module
 * Seeded random numbers for the emulators' random behaviour (faults, log delays, short pages), so a run
 * can be repeated from its seed. Each consumer draws from its own named stream, derived from the seed
 * and the name: turning one behaviour off does not shift the draws of another.
 */
import { createHash } from "node:crypto";

/** A source of numbers uniform in [0, 1). */
export type Random = () => number;

/**
 * A stream of numbers in [0, 1) determined by `seed` and `stream` (sfc32 seeded from a SHA-256 of
 * both): the same pair always gives the same sequence.
 */
export function seededRandom(seed: string, stream: string): Random {
  const digest = createHash("sha256").update(`${seed}\u0000${stream}`).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  // Discard the first draws, which still echo the raw seed words.
  for (let i = 0; i < 12; i++) next();
  return next;
}

/**
 * Milliseconds until the next event of a process that happens `perMinute` times a minute on average
 * (exponentially distributed, so events come at random moments); undefined when the rate is 0.
 */
export function randomIntervalMs(random: Random, perMinute: number): number | undefined {
  if (!(perMinute > 0)) return undefined;
  return (-Math.log(1 - random()) * 60_000) / perMinute;
}
