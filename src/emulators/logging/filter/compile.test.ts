import { describe, expect, it } from "vitest";
import type { LogEntry } from "../../contracts.ts";
import { FilterError } from "./ast.ts";
import { compileFilter } from "./compile.ts";

const stdout: LogEntry = {
  logName: "projects/p/logs/run.googleapis.com%2Fstdout",
  resource: {
    type: "cloud_run_revision",
    labels: { project_id: "p", service_name: "worker", revision_name: "worker-00001-abc", location: "us-central1" },
  },
  timestamp: "2026-03-01T10:00:00.123456789Z",
  receiveTimestamp: "2026-03-01T10:00:01Z",
  insertId: "id-1",
  labels: { instanceId: "00bf", "run.googleapis.com/execution_name": "exec-1" },
  textPayload: "Hello Unicorn world",
};

const structured: LogEntry = {
  logName: "projects/p/logs/app",
  resource: { type: "global", labels: {} },
  timestamp: "2026-03-01T12:00:00Z",
  severity: "WARNING",
  insertId: "id-2",
  trace: "projects/p/traces/abc",
  spanId: "000000000000004a",
  traceSampled: true,
  httpRequest: { status: 503, requestMethod: "GET", responseSize: "1234" },
  jsonPayload: {
    message: "Request failed",
    user: { name: "Ada", Role: "admin" },
    tags: ["blue", "green"],
    count: 42,
    ok: false,
    nothing: null,
  },
};

const entries = { stdout, structured };

/** The names of the sample entries `filter` matches. */
function matching(filter: string): string[] {
  const predicate = compileFilter(filter);
  return Object.entries(entries)
    .filter(([, entry]) => predicate(entry))
    .map(([name]) => name);
}

function errorOf(filter: string): FilterError {
  try {
    compileFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    return err as FilterError;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

describe("compileFilter", () => {
  it("matches everything with an empty filter", () => {
    expect(matching("")).toEqual(["stdout", "structured"]);
  });

  it("orders severities DEFAULT < DEBUG < ... < EMERGENCY, by name in any case or by number", () => {
    expect(matching("severity>=WARNING")).toEqual(["structured"]);
    expect(matching("severity>=warning")).toEqual(["structured"]);
    expect(matching("severity>=400")).toEqual(["structured"]);
    expect(matching("severity>ERROR")).toEqual([]);
    expect(matching("severity<WARNING")).toEqual(["stdout"]);
    expect(matching("severity=DEFAULT")).toEqual(["stdout"]);
    expect(matching("severity<=DEBUG")).toEqual(["stdout"]);
    expect(matching("severity>NOTICE AND severity<ERROR")).toEqual(["structured"]);
    expect(matching("severity!=WARNING")).toEqual(["stdout"]);
    expect(matching("severity=~\"^WARN\"")).toEqual(["structured"]);
    expect(matching("severity:*")).toEqual(["stdout", "structured"]);
  });

  it("compares timestamps as instants, to the nanosecond, whatever the offset", () => {
    expect(matching('timestamp>="2026-03-01T11:00:00Z"')).toEqual(["structured"]);
    expect(matching("timestamp<2026-03-01T11:00:00Z")).toEqual(["stdout"]);
    expect(matching('timestamp>"2026-03-01T10:00:00.123456788Z"')).toEqual(["stdout", "structured"]);
    expect(matching('timestamp>"2026-03-01T10:00:00.123456789Z"')).toEqual(["structured"]);
    expect(matching('timestamp="2026-03-01T10:00:00.123456789Z"')).toEqual(["stdout"]);
    // 13:00 at +02:00 is 11:00 UTC.
    expect(matching('timestamp<"2026-03-01T13:00:00+02:00"')).toEqual(["stdout"]);
    expect(matching('timestamp>="2026-03-01"')).toEqual(["stdout", "structured"]);
    expect(matching('receiveTimestamp>"2026-03-01T10:00:00Z"')).toEqual(["stdout"]);
    expect(matching('timestamp:"2026-03-01T12"')).toEqual(["structured"]);
  });

  it("compares strings ignoring case, and keys respecting it", () => {
    expect(matching('resource.labels.service_name="WORKER"')).toEqual(["stdout"]);
    expect(matching('resource.type="CLOUD_RUN_REVISION"')).toEqual(["stdout"]);
    expect(matching('jsonPayload.user.Role="ADMIN"')).toEqual(["structured"]);
    expect(matching('jsonPayload.user.role="admin"')).toEqual([]);
    expect(matching('labels.InstanceId="00bf"')).toEqual([]);
  });

  it("reads quoted path segments", () => {
    expect(matching('labels."run.googleapis.com/execution_name"="exec-1"')).toEqual(["stdout"]);
    expect(matching('labels."instanceId"="00BF"')).toEqual(["stdout"]);
  });

  it("treats a comparison on a missing field as false, and NOT of it as true", () => {
    expect(matching("jsonPayload.missing=x")).toEqual([]);
    expect(matching("jsonPayload.missing!=x")).toEqual([]);
    expect(matching("NOT jsonPayload.missing=x")).toEqual(["stdout", "structured"]);
    expect(matching("-labels.instanceId=00bf")).toEqual(["structured"]);
    expect(matching("labels.instanceId!=00bf")).toEqual([]);
    expect(matching("jsonPayload.nothing=null")).toEqual([]);
    expect(matching("jsonPayload.nothing:*")).toEqual([]);
  });

  it("tests presence with :*", () => {
    expect(matching("jsonPayload:*")).toEqual(["structured"]);
    expect(matching("textPayload:*")).toEqual(["stdout"]);
    expect(matching("jsonPayload.user.name:*")).toEqual(["structured"]);
    expect(matching("labels.instanceId:*")).toEqual(["stdout"]);
  });

  it("uses : as a case-insensitive substring test, also inside structs", () => {
    expect(matching("textPayload:unicorn")).toEqual(["stdout"]);
    expect(matching('textPayload:"UNICORN WORLD"')).toEqual(["stdout"]);
    expect(matching("jsonPayload.user:ada")).toEqual(["structured"]);
    expect(matching('logName:"run.googleapis.com"')).toEqual(["stdout"]);
  });

  it("matches regular expressions unanchored, case-sensitive unless (?i)", () => {
    expect(matching('textPayload=~"Uni.orn"')).toEqual(["stdout"]);
    expect(matching('textPayload=~"unicorn"')).toEqual([]);
    expect(matching('textPayload=~"(?i)unicorn"')).toEqual(["stdout"]);
    expect(matching('textPayload=~"^Hello"')).toEqual(["stdout"]);
    expect(matching('textPayload!~"^Hello"')).toEqual([]);
    expect(matching('jsonPayload.message!~"^Hello"')).toEqual(["structured"]);
    expect(matching('insertId=~"id-\\d"')).toEqual(["stdout", "structured"]);
  });

  it("compares numbers numerically, including int64 strings", () => {
    expect(matching("httpRequest.status>=500")).toEqual(["structured"]);
    expect(matching("httpRequest.status<60")).toEqual([]);
    expect(matching("httpRequest.responseSize>999")).toEqual(["structured"]);
    expect(matching("jsonPayload.count=42.0")).toEqual(["structured"]);
    expect(matching("jsonPayload.ok=false")).toEqual(["structured"]);
    expect(matching("traceSampled=true")).toEqual(["structured"]);
  });

  it("compares string fields as text even when they look like numbers", () => {
    const labelled: LogEntry = { ...stdout, labels: { instanceId: "0012", task: "9" } };
    expect(compileFilter("labels.instanceId=12")(labelled)).toBe(false);
    expect(compileFilter("labels.instanceId=0012")(labelled)).toBe(true);
    // As text, "9" sorts after "10".
    expect(compileFilter("labels.task>10")(labelled)).toBe(true);
    expect(compileFilter('jsonPayload.count="42"')(structured)).toBe(true);
  });

  it("matches a list if any element matches", () => {
    expect(matching("jsonPayload.tags=green")).toEqual(["structured"]);
    expect(matching("jsonPayload.tags=red")).toEqual([]);
    expect(matching("jsonPayload.tags!=red")).toEqual(["structured"]);
  });

  it("evaluates AND, OR, NOT and implicit AND with Google's precedence", () => {
    // (stdout OR severity>=WARNING) AND textPayload:* -> only stdout.
    expect(matching('logName:stdout OR severity>=WARNING AND textPayload:*')).toEqual(["stdout"]);
    expect(matching('logName:stdout OR (severity>=WARNING AND textPayload:*)')).toEqual(["stdout"]);
    expect(matching("resource.type=global\njsonPayload.count>40")).toEqual(["structured"]);
    expect(matching("resource.type=global jsonPayload.count>50")).toEqual([]);
    expect(matching("NOT resource.type=global OR jsonPayload.count>40")).toEqual(["stdout", "structured"]);
  });

  it("searches every value for a bare word or a lone string", () => {
    expect(matching("unicorn")).toEqual(["stdout"]);
    expect(matching('"request FAILED"')).toEqual(["structured"]);
    expect(matching("exec-1")).toEqual(["stdout"]);
    expect(matching("ada")).toEqual(["structured"]);
    expect(matching("dragon")).toEqual([]);
  });

  it("accepts snake_case field names and log_id()", () => {
    expect(matching('log_name="projects/p/logs/app"')).toEqual(["structured"]);
    expect(matching('json_payload.user.name="ada"')).toEqual(["structured"]);
    expect(matching("insert_id=id-1")).toEqual(["stdout"]);
    expect(matching('log_id("run.googleapis.com/stdout")')).toEqual(["stdout"]);
    expect(matching('log_id("app")')).toEqual(["structured"]);
  });

  it("compares trace and span ids", () => {
    expect(matching('trace="projects/p/traces/abc"')).toEqual(["structured"]);
    expect(matching("spanId=000000000000004a")).toEqual(["structured"]);
  });

  it("rejects unknown fields, severities, timestamps and regular expressions, naming the position", () => {
    const cases: [string, number, number, RegExp][] = [
      ["payload=x", 1, 1, /unknown field 'payload'/],
      ["severity=ERROR OR\n  bogus.x=1", 2, 3, /unknown field 'bogus'/],
      ["severity>=LOUD", 1, 11, /invalid severity 'LOUD'/],
      ['timestamp>="yesterday"', 1, 12, /invalid timestamp/],
      ["timestamp>=2026-13-01T00:00:00Z", 1, 12, /invalid timestamp/],
      ['textPayload=~"(unclosed"', 1, 14, /invalid regular expression/],
    ];
    for (const [filter, line, column, reason] of cases) {
      const err = errorOf(filter);
      expect({ filter, line: err.line, column: err.column }).toEqual({ filter, line, column });
      expect(err.message).toMatch(reason);
    }
  });

  it("matches value lists as each comparison combined", () => {
    expect(matching('insertId=("id-1" OR "id-2")')).toEqual(["stdout", "structured"]);
    expect(matching('jsonPayload.tags=("blue" AND "green")')).toEqual(["structured"]);
    expect(matching('severity=(WARNING OR ERROR)')).toEqual(["structured"]);
    expect(matching('textPayload:(hello AND NOT goodbye)')).toEqual(["stdout"]);
  });

  it("samples a stable share of entries by insertId", () => {
    const predicate = compileFilter("sample(insertId, 0.25)");
    const many = Array.from({ length: 4000 }, (_, i): LogEntry => ({ ...stdout, insertId: `entry-${i}` }));
    const chosen = many.filter(predicate).map((entry) => entry.insertId);
    expect(chosen.length).toBeGreaterThan(800);
    expect(chosen.length).toBeLessThan(1200);
    expect(many.filter(compileFilter("sample(insertId, 0.25)")).map((entry) => entry.insertId)).toEqual(chosen);
    // A larger fraction keeps what a smaller one chose.
    const half = new Set(many.filter(compileFilter("sample(insertId, 0.5)")).map((entry) => entry.insertId));
    expect(chosen.every((id) => half.has(id))).toBe(true);
    expect(many.filter(compileFilter("sample(insertId, 0)"))).toEqual([]);
    expect(many.filter(compileFilter("sample(insertId, 1)")).length).toBe(4000);
    expect(compileFilter("sample(insertId, 1)")({ ...stdout, insertId: undefined })).toBe(false);
  });
});
