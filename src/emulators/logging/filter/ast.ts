/**
 * @module
 * The syntax tree of a Logging query language filter, and the error both parsing and compiling raise.
 * Nodes keep the offset they start at, so a semantic error (a bad regular expression, an unknown
 * severity) can name its position like a syntax error does.
 */

/** Comparison operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, `:` (has), `=~` and `!~` (regular expressions). */
export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":" | "=~" | "!~";

/** A filter as a tree. */
export type FilterNode =
  | { kind: "all" }
  | { kind: "and"; terms: FilterNode[] }
  | { kind: "or"; terms: FilterNode[] }
  | { kind: "not"; term: FilterNode }
  /** `FIELD OP VALUE`; `path` is the field's segments with quotes removed. */
  | { kind: "compare"; path: string[]; op: CompareOp; value: string; position: number; valuePosition: number }
  /** `FIELD:*`: the field is present. */
  | { kind: "present"; path: string[]; position: number }
  /** A bare word or quoted string on its own: a text search over every field. */
  | { kind: "search"; text: string; position: number }
  /** `log_id("ID")`: the entry's log, by its unencoded ID. */
  | { kind: "logId"; logId: string; position: number }
  /** `sample(insertId, FRACTION)`: a stable share of entries, chosen by a hash of their insertId. */
  | { kind: "sample"; fraction: number; position: number };

/** A malformed filter, with the 1-based line and column where the problem starts. */
export class FilterError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`Unparseable filter: ${reason} at line ${line}, column ${column}`);
    this.name = "FilterError";
  }

  /** An error at `offset` within `source`. */
  static at(source: string, offset: number, reason: string): FilterError {
    const before = source.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    return new FilterError(reason, line, column);
  }
}
