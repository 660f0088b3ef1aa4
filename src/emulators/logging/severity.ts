/**
 * @module
 * Cloud Logging's `LogSeverity`: the nine names, their numbers, and the three ways a severity arrives —
 * on the wire of `entries:write` (a name or the number, as the proto JSON mapping allows), in a filter
 * (a name in any case, or a number), and in a line of structured container output (the logging agent
 * is lenient and understands common spellings).
 */

/** Severity names and their numeric values, in order. */
export const SEVERITY_VALUES = {
  DEFAULT: 0,
  DEBUG: 100,
  INFO: 200,
  NOTICE: 300,
  WARNING: 400,
  ERROR: 500,
  CRITICAL: 600,
  ALERT: 700,
  EMERGENCY: 800,
} as const;

/** One of the `LogSeverity` names. */
export type SeverityName = keyof typeof SEVERITY_VALUES;

const NAMES_BY_VALUE = new Map<number, SeverityName>(
  Object.entries(SEVERITY_VALUES).map(([name, value]) => [value, name as SeverityName]),
);

function isSeverityName(text: string): text is SeverityName {
  return Object.hasOwn(SEVERITY_VALUES, text);
}

/** The numeric value of a severity name; an absent severity is `DEFAULT` (0). */
export function severityValue(name: string | undefined): number {
  return name !== undefined && isSeverityName(name) ? SEVERITY_VALUES[name] : 0;
}

/**
 * Reads `LogEntry.severity` as the proto JSON mapping does: an exact enum name or its number (the
 * Node client sends numbers). Returns undefined for anything else.
 */
export function severityFromWire(value: unknown): SeverityName | undefined {
  if (typeof value === "string") return isSeverityName(value) ? value : undefined;
  if (typeof value === "number") return NAMES_BY_VALUE.get(value);
  return undefined;
}

/**
 * Reads a severity on the right of a filter comparison: a name in any case, or a number (any number,
 * so `severity>=450` works). Returns the numeric value, or undefined if it is neither.
 */
export function severityValueFromFilter(text: string): number | undefined {
  const upper = text.toUpperCase();
  if (isSeverityName(upper)) return SEVERITY_VALUES[upper];
  if (/^-?\d+$/.test(text)) return Number(text);
  return undefined;
}

// Spellings the logging agent accepts beyond the enum names, as common logging libraries write them.
const AGENT_ALIASES: Record<string, SeverityName> = {
  TRACE: "DEBUG",
  FINE: "DEBUG",
  FINER: "DEBUG",
  FINEST: "DEBUG",
  D: "DEBUG",
  I: "INFO",
  N: "NOTICE",
  WARN: "WARNING",
  W: "WARNING",
  ERR: "ERROR",
  E: "ERROR",
  SEVERE: "ERROR",
  CRIT: "CRITICAL",
  FATAL: "CRITICAL",
  C: "CRITICAL",
  F: "CRITICAL",
  A: "ALERT",
  EMERG: "EMERGENCY",
};

/**
 * Reads the `severity` key of a structured log line the way the logging agent does: enum names in any
 * case, common aliases (`warn`, `err`, `fatal`, ...), or an enum number. Undefined when unrecognized,
 * in which case the key stays in the payload.
 */
export function severityFromAgent(value: unknown): SeverityName | undefined {
  if (typeof value === "number") return NAMES_BY_VALUE.get(value);
  if (typeof value !== "string") return undefined;
  const upper = value.trim().toUpperCase();
  if (isSeverityName(upper)) return upper;
  return AGENT_ALIASES[upper];
}
