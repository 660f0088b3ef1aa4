/**
 * @module
 * A recursive-descent parser for the subset of the Logging query language the emulator understands.
 *
 * Grammar (precedence NOT > OR > AND, as Google documents, so `a OR b AND c` is `(a OR b) AND c`):
 * ```
 * filter     := conjunction? EOF
 * conjunction:= disjunction (("AND" | <juxtaposition>) disjunction)*
 * disjunction:= unary ("OR" unary)*
 * unary      := ("NOT" | "-") unary | primary
 * primary    := "(" conjunction ")" | "log_id(" STRING ")" | "sample(insertId," NUMBER ")"
 *             | path OP value | path OP "(" values ")" | path ":*" | word | STRING
 * values     := the same AND / OR / NOT structure over values: FIELD OP (a OR b) means
 *               FIELD OP a OR FIELD OP b
 * path       := segment ("." segment)*        segment := bare-name | STRING
 * ```
 * Keywords are uppercase only (a lowercase `and` is a search word). Whitespace, including newlines,
 * separates terms; `--` starts a comment that runs to the end of the line. Strings are double-quoted
 * with backslash escapes. A value after an operator is a string or a bare run of characters up to
 * whitespace or a parenthesis, so `timestamp>=2026-01-01T00:00:00Z` needs no quotes.
 */
import { type CompareOp, FilterError, type FilterNode } from "./ast.ts";

/** Google's limit on the length of a filter. */
export const MAX_FILTER_LENGTH = 20_000;

const KEYWORDS = new Set(["AND", "OR", "NOT"]);
// Characters that end a bare field name or search word.
const NAME_STOP = new Set([" ", "\t", "\n", "\r", "\f", "(", ")", '"', ".", "=", "!", "<", ">", ":", "~"]);
const WHITESPACE = /\s/;
const OPERATORS: CompareOp[] = ["!=", "<=", ">=", "=~", "!~", "=", "<", ">", ":"];
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", n: "\n", t: "\t", r: "\r" };

/** Parses `source` into a tree; an empty filter matches everything. Throws {@link FilterError}. */
export function parseFilter(source: string): FilterNode {
  if (source.length > MAX_FILTER_LENGTH) {
    throw new FilterError(`filter longer than ${MAX_FILTER_LENGTH} characters`, 1, MAX_FILTER_LENGTH + 1);
  }
  return new Parser(source).parse();
}

class Parser {
  #pos = 0;

  constructor(private readonly source: string) {}

  parse(): FilterNode {
    this.#skipSpace();
    if (this.#atEnd()) return { kind: "all" };
    const node = this.#conjunction(this.#termUnary);
    this.#skipSpace();
    if (!this.#atEnd()) throw this.#error(`unexpected ${this.#describeHere()}`);
    return node;
  }

  // The AND and OR levels are shared by whole terms and by the values of a value list, which differ
  // only in what their innermost (unary) level reads.
  readonly #termUnary = (): FilterNode => this.#unary();

  #conjunction(unary: () => FilterNode): FilterNode {
    const terms = [this.#disjunction(unary)];
    for (;;) {
      this.#skipSpace();
      if (this.#atEnd() || this.#peek() === ")") break;
      if (this.#keywordHere() === "AND") {
        this.#pos += 3;
        this.#skipSpace();
        if (this.#atEnd() || this.#peek() === ")") throw this.#error("expected an expression after AND");
      }
      terms.push(this.#disjunction(unary));
    }
    return terms.length === 1 ? terms[0] : { kind: "and", terms };
  }

  #disjunction(unary: () => FilterNode): FilterNode {
    const terms = [unary()];
    for (;;) {
      this.#skipSpace();
      if (this.#keywordHere() !== "OR") break;
      this.#pos += 2;
      this.#skipSpace();
      if (this.#atEnd() || this.#peek() === ")") throw this.#error("expected an expression after OR");
      terms.push(unary());
    }
    return terms.length === 1 ? terms[0] : { kind: "or", terms };
  }

  #unary(): FilterNode {
    this.#skipSpace();
    if (this.#keywordHere() === "NOT") {
      this.#pos += 3;
      this.#skipSpace();
      if (this.#atEnd() || this.#peek() === ")") throw this.#error("expected an expression after NOT");
      return { kind: "not", term: this.#unary() };
    }
    if (this.#peek() === "-") {
      this.#pos += 1;
      this.#skipSpace();
      if (this.#atEnd() || this.#peek() === ")") throw this.#error("expected an expression after '-'");
      return { kind: "not", term: this.#unary() };
    }
    return this.#primary();
  }

  #primary(): FilterNode {
    if (this.#atEnd()) throw this.#error("expected an expression");
    const ch = this.#peek();
    if (ch === "(") {
      this.#pos += 1;
      this.#skipSpace();
      if (this.#peek() === ")") throw this.#error("expected an expression inside parentheses");
      const node = this.#conjunction(this.#termUnary);
      this.#skipSpace();
      if (this.#peek() !== ")") throw this.#error(`expected ')' but found ${this.#describeHere()}`);
      this.#pos += 1;
      return node;
    }
    const keyword = this.#keywordHere();
    if (keyword) throw this.#error(`unexpected ${keyword}`);
    if (ch !== '"' && NAME_STOP.has(ch)) throw this.#error(`unexpected ${this.#describeHere()}`);
    return this.#term();
  }

  /** A comparison, a presence test, `log_id(...)`, or a search word. */
  #term(): FilterNode {
    const start = this.#pos;
    const path = this.#path();
    if (path.length === 1 && this.#peek() === "(" && this.source[start] !== '"') {
      if (path[0] === "log_id") return this.#logId(start);
      if (path[0] === "sample") return this.#sample(start);
    }
    const pathEnd = this.#pos;
    this.#skipSpace();
    const op = this.#operatorHere();
    if (!op) {
      this.#pos = pathEnd;
      if (!this.#atEnd() && !this.#atDelimiter()) throw this.#error(`unexpected ${this.#describeHere()}`);
      const raw = this.source.slice(start, pathEnd);
      return { kind: "search", text: path.length === 1 ? path[0] : raw, position: start };
    }
    this.#pos += op.length;
    this.#skipSpace();
    const valuePosition = this.#pos;
    if (op === ":" && this.#peek() === "*") {
      this.#pos += 1;
      if (this.#atEnd() || this.#atDelimiter()) return { kind: "present", path, position: start };
      this.#pos = valuePosition;
    }
    if (this.#peek() === "(" && op !== "=~" && op !== "!~") return this.#valueGroup(path, op, start);
    const value = this.#value(op);
    return { kind: "compare", path, op, value, position: start, valuePosition };
  }

  // Value lists: `FIELD OP (a OR b AND NOT c)` applies the comparison to each value and combines the
  // results with the same precedence as whole terms (NOT > OR > AND).
  #valueGroup(path: string[], op: CompareOp, position: number): FilterNode {
    this.#pos += 1; // "("
    this.#skipSpace();
    if (this.#peek() === ")") throw this.#error(`expected a value after '${op}('`);
    const node = this.#conjunction(() => this.#valueUnary(path, op, position));
    this.#skipSpace();
    if (this.#peek() !== ")") throw this.#error(`expected ')' but found ${this.#describeHere()}`);
    this.#pos += 1;
    return node;
  }

  #valueUnary(path: string[], op: CompareOp, position: number): FilterNode {
    this.#skipSpace();
    if (this.#keywordHere() === "NOT") {
      this.#pos += 3;
      this.#skipSpace();
      return { kind: "not", term: this.#valueUnary(path, op, position) };
    }
    if (this.#peek() === "(") return this.#valueGroup(path, op, position);
    const valuePosition = this.#pos;
    return { kind: "compare", path, op, value: this.#value(op), position, valuePosition };
  }

  #path(): string[] {
    const segments = [this.#segment()];
    while (this.#peek() === ".") {
      this.#pos += 1;
      segments.push(this.#segment());
    }
    return segments;
  }

  #segment(): string {
    if (this.#peek() === '"') return this.#string();
    const start = this.#pos;
    while (!this.#atEnd() && !NAME_STOP.has(this.#peek())) this.#pos += 1;
    if (this.#pos === start) throw this.#error(`expected a field name but found ${this.#describeHere()}`);
    return this.source.slice(start, this.#pos);
  }

  #value(op: CompareOp): string {
    if (this.#atEnd()) throw this.#error(`expected a value after '${op}'`);
    if (this.#peek() === '"') return this.#string();
    const start = this.#pos;
    while (!this.#atEnd() && !this.#atDelimiter()) this.#pos += 1;
    const value = this.source.slice(start, this.#pos);
    if (value === "") throw this.#error(`expected a value after '${op}' but found ${this.#describeHere()}`);
    if (KEYWORDS.has(value)) {
      this.#pos = start;
      throw this.#error(`expected a value after '${op}' but found ${value}`);
    }
    return value;
  }

  #logId(start: number): FilterNode {
    this.#pos += 1; // "("
    this.#skipSpace();
    if (this.#peek() !== '"') throw this.#error("expected a quoted log ID in log_id()");
    const logId = this.#string();
    this.#skipSpace();
    if (this.#peek() !== ")") throw this.#error(`expected ')' but found ${this.#describeHere()}`);
    this.#pos += 1;
    return { kind: "logId", logId, position: start };
  }

  #sample(start: number): FilterNode {
    this.#pos += 1; // "("
    this.#skipSpace();
    const fieldStart = this.#pos;
    while (!this.#atEnd() && !this.#atDelimiter() && this.#peek() !== ",") this.#pos += 1;
    if (this.source.slice(fieldStart, this.#pos) !== "insertId") {
      this.#pos = fieldStart;
      throw this.#error("sample() takes insertId as its first argument");
    }
    this.#skipSpace();
    if (this.#peek() !== ",") throw this.#error(`expected ',' but found ${this.#describeHere()}`);
    this.#pos += 1;
    this.#skipSpace();
    const fractionStart = this.#pos;
    while (!this.#atEnd() && !this.#atDelimiter() && this.#peek() !== ",") this.#pos += 1;
    const text = this.source.slice(fractionStart, this.#pos);
    const fraction = Number(text);
    if (text === "" || !(fraction >= 0 && fraction <= 1)) {
      this.#pos = fractionStart;
      throw this.#error(`sample() takes a fraction between 0 and 1, found ${text === "" ? this.#describeHere() : `'${text}'`}`);
    }
    this.#skipSpace();
    if (this.#peek() !== ")") throw this.#error(`expected ')' but found ${this.#describeHere()}`);
    this.#pos += 1;
    return { kind: "sample", fraction, position: start };
  }

  #string(): string {
    const start = this.#pos;
    this.#pos += 1; // opening quote
    let text = "";
    for (;;) {
      if (this.#atEnd()) {
        this.#pos = start;
        throw this.#error("unterminated string");
      }
      const ch = this.source[this.#pos++];
      if (ch === '"') return text;
      if (ch === "\\" && !this.#atEnd()) {
        const escaped = this.source[this.#pos++];
        // Unknown escapes keep their backslash, so regular expressions like "\d+" read naturally.
        text += ESCAPES[escaped] ?? `\\${escaped}`;
      } else {
        text += ch;
      }
    }
  }

  #operatorHere(): CompareOp | undefined {
    return OPERATORS.find((op) => this.source.startsWith(op, this.#pos));
  }

  #keywordHere(): string | undefined {
    for (const keyword of KEYWORDS) {
      if (!this.source.startsWith(keyword, this.#pos)) continue;
      const after = this.#pos + keyword.length;
      if (after >= this.source.length || this.#isDelimiter(this.source[after])) return keyword;
    }
    return undefined;
  }

  #skipSpace(): void {
    for (;;) {
      while (!this.#atEnd() && WHITESPACE.test(this.#peek())) this.#pos += 1;
      if (!this.source.startsWith("--", this.#pos)) return;
      const newline = this.source.indexOf("\n", this.#pos);
      this.#pos = newline === -1 ? this.source.length : newline + 1;
    }
  }

  #isDelimiter(ch: string): boolean {
    return WHITESPACE.test(ch) || ch === "(" || ch === ")" || ch === '"';
  }

  #atDelimiter(): boolean {
    return this.#isDelimiter(this.#peek());
  }

  #atEnd(): boolean {
    return this.#pos >= this.source.length;
  }

  #peek(): string {
    return this.source[this.#pos] ?? "";
  }

  #describeHere(): string {
    if (this.#atEnd()) return "end of filter";
    return `'${this.#peek()}'`;
  }

  #error(reason: string): FilterError {
    return FilterError.at(this.source, this.#pos, reason);
  }
}
