/**
 * @module
 * Turns a parsed filter into a predicate over log entries, checking what the parser cannot: field
 * names, severities, timestamps and regular expressions, each error naming its position.
 *
 * Semantics, following Google's documentation:
 * - String comparisons ignore case; map and struct keys do not.
 * - A comparison on a missing field is false, whatever the operator (`missing!=x` too), so
 *   `NOT missing=x` is true.
 * - `severity` compares in enum order (names in any case, or numbers); an absent severity is DEFAULT.
 * - `timestamp` and `receiveTimestamp` compare as instants, at nanosecond precision.
 * - A JSON number, or an int64 field of `httpRequest` or `sourceLocation` (which JSON carries as a
 *   string), compares numerically with a numeric value; everything else, labels included, as text.
 * - `:` is a case-insensitive substring test (on a struct, on any value inside it); `=~` and `!~` are
 *   unanchored regular expressions, case-sensitive unless they start with `(?i)`.
 * - A bare word or quoted string searches every value of the entry, ignoring case.
 * - `sample(insertId, f)` keeps the entries whose insertId hashes below `f` of the hash range, so the
 *   same entries are chosen on every query; an entry without an insertId is never chosen.
 */
import { createHash } from "node:crypto";
import type { LogEntry } from "../../contracts.ts";
import { severityValue, severityValueFromFilter } from "../severity.ts";
import { parseTimestamp } from "../timestamp.ts";
import { type CompareOp, FilterError, type FilterNode } from "./ast.ts";
import { canonicalPath, LOG_ENTRY_FIELDS, resolveField, scalarLeaves } from "./fields.ts";
import { parseFilter } from "./parser.ts";

/** Decides whether a log entry matches a filter. */
export type EntryPredicate = (entry: LogEntry) => boolean;

type Ordering = -1 | 0 | 1;

const TIME_FIELDS = new Set(["timestamp", "receiveTimestamp"]);
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
// LogEntry fields whose numbers are int64, which the JSON mapping writes as strings.
const INT64_PARENTS = new Set(["httpRequest", "sourceLocation"]);

/** Parses and compiles a filter. Throws {@link FilterError} when it is malformed. */
export function compileFilter(source: string): EntryPredicate {
  return compileNode(parseFilter(source), source);
}

/** Compiles an already parsed filter; `source` is the text it came from, for error positions. */
export function compileNode(node: FilterNode, source: string): EntryPredicate {
  switch (node.kind) {
    case "all":
      return () => true;
    case "and": {
      const terms = node.terms.map((term) => compileNode(term, source));
      return (entry) => terms.every((term) => term(entry));
    }
    case "or": {
      const terms = node.terms.map((term) => compileNode(term, source));
      return (entry) => terms.some((term) => term(entry));
    }
    case "not": {
      const term = compileNode(node.term, source);
      return (entry) => !term(entry);
    }
    case "present": {
      const path = checkedPath(node.path, node.position, source);
      if (path.length === 1 && path[0] === "severity") return () => true;
      return (entry) => resolveField(entry, path).length > 0;
    }
    case "search": {
      const needle = node.text.toLowerCase();
      return (entry) => {
        for (const leaf of scalarLeaves(entry)) if (String(leaf).toLowerCase().includes(needle)) return true;
        return false;
      };
    }
    case "logId":
      return (entry) => logIdOf(entry.logName) === node.logId;
    case "compare":
      return compileComparison(node, source);
    case "sample": {
      const { fraction } = node;
      return (entry) => typeof entry.insertId === "string" && entry.insertId !== "" && sampleKey(entry.insertId) < fraction;
    }
  }
}

/** Where `insertId` falls in [0, 1): the first 48 bits of its SHA-256, so the choice is stable and even. */
function sampleKey(insertId: string): number {
  return createHash("sha256").update(insertId).digest().readUIntBE(0, 6) / 2 ** 48;
}

function checkedPath(path: string[], position: number, source: string): string[] {
  const canonical = canonicalPath(path);
  if (!LOG_ENTRY_FIELDS.has(canonical[0])) {
    throw FilterError.at(source, position, `unknown field '${path[0]}'`);
  }
  return canonical;
}

function logIdOf(logName: string): string | undefined {
  const at = logName.indexOf("/logs/");
  if (at < 0) return undefined;
  try {
    return decodeURIComponent(logName.slice(at + "/logs/".length));
  } catch {
    return undefined;
  }
}

function compileComparison(node: Extract<FilterNode, { kind: "compare" }>, source: string): EntryPredicate {
  const path = checkedPath(node.path, node.position, source);
  const { op, value } = node;
  const fail = (reason: string) => FilterError.at(source, node.valuePosition, reason);

  if (op === "=~" || op === "!~") {
    const regex = compileRegex(value, fail);
    const matchesText = (text: string) => regex.test(text);
    if (path.length === 1 && path[0] === "severity") {
      return (entry) => matchesText(entry.severity ?? "DEFAULT") === (op === "=~");
    }
    return fieldTest(path, op === "!~", (v) => textOf(v) !== undefined && matchesText(textOf(v)!));
  }
  if (path.length === 1 && path[0] === "severity") {
    const wanted = severityValueFromFilter(value);
    if (wanted === undefined) throw fail(`invalid severity '${value}'`);
    const test = orderingTest(op === ":" ? "=" : op);
    return (entry) => test(Math.sign(severityValue(entry.severity) - wanted) as Ordering);
  }
  if (path.length === 1 && TIME_FIELDS.has(path[0]) && op !== ":") {
    const wanted = parseTimestamp(value);
    if (!wanted) throw fail(`invalid timestamp '${value}' (expected RFC 3339)`);
    const test = orderingTest(op);
    return (entry) => {
      const actual = typeof entry[path[0]] === "string" ? parseTimestamp(entry[path[0]]) : undefined;
      return actual !== undefined && test(compareText(actual.key, wanted.key));
    };
  }
  if (op === ":") {
    const needle = value.toLowerCase();
    return fieldTest(path, false, (v) => hasText(v, needle));
  }
  const wantedNumber = NUMBER.test(value) ? Number(value) : undefined;
  const numericStrings = INT64_PARENTS.has(path[0]);
  const wantedText = value.toLowerCase();
  const compare = (v: unknown): Ordering | undefined => {
    const text = textOf(v);
    if (text === undefined) return undefined;
    if (wantedNumber !== undefined && (typeof v === "number" || (numericStrings && NUMBER.test(text)))) {
      return Math.sign(Number(text) - wantedNumber) as Ordering;
    }
    return compareText(text.toLowerCase(), wantedText);
  };
  if (op === "!=") return fieldTest(path, true, (v) => compare(v) === 0);
  const test = orderingTest(op);
  return fieldTest(path, false, (v) => {
    const ordering = compare(v);
    return ordering !== undefined && test(ordering);
  });
}

/**
 * A test over every value at `path`: true if any value passes, or, when `negated`, if the field is
 * present and no value passes. A missing field fails either way.
 */
function fieldTest(path: string[], negated: boolean, passes: (value: unknown) => boolean): EntryPredicate {
  return (entry) => {
    const values = resolveField(entry, path);
    if (values.length === 0) return false;
    const any = values.some(passes);
    return negated ? !any : any;
  };
}

function orderingTest(op: Exclude<CompareOp, ":" | "=~" | "!~">): (ordering: Ordering) => boolean {
  switch (op) {
    case "=":
      return (o) => o === 0;
    case "!=":
      return (o) => o !== 0;
    case "<":
      return (o) => o < 0;
    case "<=":
      return (o) => o <= 0;
    case ">":
      return (o) => o > 0;
    case ">=":
      return (o) => o >= 0;
  }
}

function compileRegex(pattern: string, fail: (reason: string) => FilterError): RegExp {
  // RE2's inline case-insensitivity flag, which JavaScript spells as a flag.
  const insensitive = pattern.startsWith("(?i)");
  try {
    return new RegExp(insensitive ? pattern.slice(4) : pattern, insensitive ? "i" : "");
  } catch (err) {
    throw fail(`invalid regular expression '${pattern}': ${(err as Error).message}`);
  }
}

function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

function hasText(value: unknown, needle: string): boolean {
  for (const leaf of scalarLeaves(value)) if (String(leaf).toLowerCase().includes(needle)) return true;
  return false;
}

function compareText(a: string, b: string): Ordering {
  return a < b ? -1 : a > b ? 1 : 0;
}
