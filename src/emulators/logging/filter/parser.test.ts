import { describe, expect, it } from "vitest";
import { FilterError, type FilterNode } from "./ast.ts";
import { MAX_FILTER_LENGTH, parseFilter } from "./parser.ts";

/** A compact rendering of a tree, to compare shapes without positions. */
function show(node: FilterNode): string {
  switch (node.kind) {
    case "all":
      return "ALL";
    case "and":
      return `(${node.terms.map(show).join(" & ")})`;
    case "or":
      return `(${node.terms.map(show).join(" | ")})`;
    case "not":
      return `!${show(node.term)}`;
    case "compare":
      return `${node.path.join("/")}${node.op}${JSON.stringify(node.value)}`;
    case "present":
      return `${node.path.join("/")}:*`;
    case "search":
      return `search(${JSON.stringify(node.text)})`;
    case "logId":
      return `log_id(${JSON.stringify(node.logId)})`;
    case "sample":
      return `sample(${node.fraction})`;
  }
}

const shape = (filter: string) => show(parseFilter(filter));

function errorOf(filter: string): FilterError {
  try {
    parseFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    return err as FilterError;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

describe("parseFilter", () => {
  it("treats an empty or blank filter as matching everything", () => {
    expect(shape("")).toBe("ALL");
    expect(shape("  \n\t ")).toBe("ALL");
    expect(shape("-- only a comment")).toBe("ALL");
  });

  it("parses each comparison operator, with or without spaces", () => {
    const ops = ["=", "!=", "<", "<=", ">", ">=", ":", "=~", "!~"];
    for (const op of ops) {
      expect(shape(`severity${op}ERROR`)).toBe(`severity${op}"ERROR"`);
      expect(shape(`severity ${op} ERROR`)).toBe(`severity${op}"ERROR"`);
    }
  });

  it("gives OR precedence over AND, and NOT over both", () => {
    expect(shape("a=1 OR b=2 AND c=3")).toBe('((a="1" | b="2") & c="3")');
    expect(shape("a=1 AND b=2 OR c=3")).toBe('(a="1" & (b="2" | c="3"))');
    expect(shape("NOT a=1 OR b=2")).toBe('(!a="1" | b="2")');
    expect(shape("NOT NOT a=1")).toBe('!!a="1"');
  });

  it("joins juxtaposed terms and separate lines with AND", () => {
    expect(shape("a=1 b=2")).toBe('(a="1" & b="2")');
    expect(shape("a=1\nb=2 OR c=3\n")).toBe('(a="1" & (b="2" | c="3"))');
    expect(shape("a=1 AND\nb=2")).toBe('(a="1" & b="2")');
  });

  it("reads '-' as NOT", () => {
    expect(shape("-a=1")).toBe('!a="1"');
    expect(shape("b=2 -a=1")).toBe('(b="2" & !a="1")');
    expect(shape("-(a=1 OR b=2)")).toBe('!(a="1" | b="2")');
  });

  it("honours parentheses", () => {
    expect(shape("a=1 OR (b=2 AND c=3)")).toBe('(a="1" | (b="2" & c="3"))');
    expect(shape("((a=1))")).toBe('a="1"');
  });

  it("reads keywords only in uppercase", () => {
    expect(shape("a=1 and b=2")).toBe('(a="1" & search("and") & b="2")');
    expect(shape("a=1 or b=2")).toBe('(a="1" & search("or") & b="2")');
    expect(shape("ANDROID")).toBe('search("ANDROID")');
  });

  it("reads quoted strings with escapes, and bare values up to whitespace or a parenthesis", () => {
    expect(shape('textPayload="hello world"')).toBe('textPayload="hello world"');
    expect(shape('textPayload="say \\"hi\\"\\n"')).toBe('textPayload="say \\"hi\\"\\n"');
    expect(shape('textPayload=~"\\d+"')).toBe('textPayload=~"\\\\d+"');
    expect(shape("timestamp>=2026-01-01T00:00:00Z")).toBe('timestamp>="2026-01-01T00:00:00Z"');
    expect(shape("(severity>=ERROR)")).toBe('severity>="ERROR"');
    expect(shape('logName="projects/p/logs/run.googleapis.com%2Fstdout"')).toBe(
      'logName="projects/p/logs/run.googleapis.com%2Fstdout"',
    );
  });

  it("reads dotted paths with quoted segments", () => {
    expect(shape('labels."run.googleapis.com/execution_name"=x')).toBe('labels/run.googleapis.com/execution_name="x"');
    expect(shape('labels."instanceId"="00ab"')).toBe('labels/instanceId="00ab"');
    expect(shape("jsonPayload.a.b.c=1")).toBe('jsonPayload/a/b/c="1"');
    expect(shape("resource.labels.service_name=w")).toBe('resource/labels/service_name="w"');
  });

  it("reads presence tests, and a quoted star as a literal", () => {
    expect(shape("jsonPayload.x:*")).toBe("jsonPayload/x:*");
    expect(shape('jsonPayload.x:"*"')).toBe('jsonPayload/x:"*"');
    expect(shape("jsonPayload.x:* AND y=1")).toBe('(jsonPayload/x:* & y="1")');
  });

  it("reads bare words and lone strings as global searches", () => {
    expect(shape("unicorn")).toBe('search("unicorn")');
    expect(shape('"hello world"')).toBe('search("hello world")');
    expect(shape("foo.bar")).toBe('search("foo.bar")');
    expect(shape("unicorn -pony")).toBe('(search("unicorn") & !search("pony"))');
  });

  it("reads log_id()", () => {
    expect(shape('log_id("run.googleapis.com/stdout")')).toBe('log_id("run.googleapis.com/stdout")');
    expect(shape('log_id("a") OR log_id("b")')).toBe('(log_id("a") | log_id("b"))');
  });

  it("skips comments", () => {
    expect(shape("a=1 -- the first\nb=2")).toBe('(a="1" & b="2")');
  });

  it("rejects malformed filters, naming the line and column", () => {
    const cases: [string, number, number, RegExp][] = [
      ["severity>=", 1, 11, /expected a value/],
      ["(a=1", 1, 5, /expected '\)'/],
      ["a=1)", 1, 4, /unexpected '\)'/],
      ["a=1 AND", 1, 8, /after AND/],
      ["a=1 OR", 1, 7, /after OR/],
      ["NOT", 1, 4, /after NOT/],
      ["a=1 AND OR b=2", 1, 9, /unexpected OR/],
      ["()", 1, 2, /inside parentheses/],
      ['a="open', 1, 3, /unterminated string/],
      ["a=1\n  b=AND", 2, 5, /expected a value/],
      ["a=1\n\n  =2", 3, 3, /unexpected '='/],
      ["labels.=x", 1, 8, /expected a field name/],
      ["error!", 1, 6, /unexpected '!'/],
      ['log_id(x)', 1, 8, /quoted log ID/],
    ];
    for (const [filter, line, column, reason] of cases) {
      const err = errorOf(filter);
      expect({ filter, line: err.line, column: err.column }).toEqual({ filter, line, column });
      expect(err.message).toMatch(reason);
      expect(err.message).toContain(`line ${line}, column ${column}`);
    }
  });

  it("rejects filters longer than Google's limit", () => {
    expect(() => parseFilter(`a=${"x".repeat(MAX_FILTER_LENGTH)}`)).toThrow(/longer than 20000/);
  });

  it("reads value lists as the comparison applied to each value, with the usual precedence", () => {
    expect(shape('resource.type=("a" OR "b")')).toBe('(resource/type="a" | resource/type="b")');
    expect(shape("labels.x:(one two)")).toBe('(labels/x:"one" & labels/x:"two")');
    expect(shape('severity>=(ERROR OR NOT "x" AND (y OR z))')).toBe('((severity>="ERROR" | !severity>="x") & (severity>="y" | severity>="z"))');
    expect(shape('a=(b) c=d')).toBe('(a="b" & c="d")');
    expect(errorOf("a=()").reason).toMatch(/expected a value/);
    expect(errorOf('a=("b" OR "c"').reason).toMatch(/expected '\)'/);
    expect(errorOf('a=("b" OR)').reason).toMatch(/expected an expression after OR/);
  });

  it("reads sample(insertId, fraction) and refuses other fields and fractions out of range", () => {
    expect(shape("sample(insertId, 0.25)")).toBe("sample(0.25)");
    expect(shape("sample( insertId ,1) AND severity>=ERROR")).toBe('(sample(1) & severity>="ERROR")');
    expect(errorOf("sample(logName, 0.5)").reason).toMatch(/insertId/);
    expect(errorOf("sample(insertId, 1.5)").reason).toMatch(/between 0 and 1/);
    expect(errorOf("sample(insertId, half)").reason).toMatch(/between 0 and 1/);
    expect(errorOf("sample(insertId 0.5)").reason).toMatch(/expected ','/);
  });
});
