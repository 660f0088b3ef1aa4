/**
 * Proto3 JSON reading and writing against the Cloud Run descriptors, and query-parameter binding.
 */
import { describe, expect, it } from "vitest";
import { ApiError } from "./api-error.ts";
import { ProtoJson } from "./proto-json.ts";
import { runSchema, TYPES } from "./proto-schema.ts";
import { bindQuery, replyFormat } from "./request-query.ts";

const json = new ProtoJson(runSchema());

function parseService(value: unknown) {
  return json.parseMessage(TYPES.service, value, "service");
}

/** The ApiError `run` throws. */
function thrown(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("expected an ApiError");
}

describe("ProtoJson.parseMessage", () => {
  it("normalizes enums to names, 64-bit integers to strings, and drops default values", () => {
    const parsed = parseService({
      ingress: 3,
      launchStage: "BETA",
      description: "",
      invokerIamDisabled: false,
      template: { executionEnvironment: 0, maxInstanceRequestConcurrency: "12", timeout: "90.500000s", containers: [{ image: "i" }] },
      labels: {},
      traffic: [],
    });
    expect(parsed).toEqual({
      ingress: "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
      launchStage: "BETA",
      template: { maxInstanceRequestConcurrency: 12, timeout: "90.500s", containers: [{ image: "i" }] },
    });
  });

  it("keeps defaults of oneof members and optional fields, whose presence matters", () => {
    const parsed = parseService({
      scaling: { manualInstanceCount: 0 },
      template: { containers: [{ image: "i", env: [{ name: "EMPTY", value: "" }] }] },
    });
    expect(parsed.scaling).toEqual({ manualInstanceCount: 0 });
    expect((parsed.template as any).containers[0].env).toEqual([{ name: "EMPTY", value: "" }]);
  });

  it("accepts snake_case names and null values", () => {
    expect(parseService({ template: { service_account: "a@b.c", vpc_access: null } })).toEqual({ template: { serviceAccount: "a@b.c" } });
  });

  it("rejects unknown fields with the message and path Google uses", () => {
    const error = thrown(() => parseService({ template: { containers: [{ image: "i", imageUri: "x" }] } }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe(`Invalid JSON payload received. Unknown name "imageUri" at 'service.template.containers[0]': Cannot find field.`);
    const atRoot = thrown(() => json.parseMessage(TYPES.setIamPolicyRequest, { polcy: {} }, ""));
    expect(atRoot.message).toBe(`Invalid JSON payload received. Unknown name "polcy": Cannot find field.`);
  });

  it.each([
    [{ generation: 1.5 }, "service.generation", "TYPE_INT64"],
    [{ template: { maxInstanceRequestConcurrency: 2 ** 31 } }, "service.template.max_instance_request_concurrency", "TYPE_INT32"],
    [{ reconciling: "yes" }, "service.reconciling", "TYPE_BOOL"],
    [{ description: 5 }, "service.description", "TYPE_STRING"],
    [{ template: { timeout: "5m" } }, "service.template.timeout", "type.googleapis.com/google.protobuf.Duration"],
    [{ createTime: "yesterday" }, "service.create_time", "type.googleapis.com/google.protobuf.Timestamp"],
    [{ ingress: "SIDEWAYS" }, "service.ingress", "type.googleapis.com/google.cloud.run.v2.IngressTraffic"],
    [{ template: "t" }, "service.template", "type.googleapis.com/google.cloud.run.v2.RevisionTemplate"],
    [{ urls: "u" }, "service.urls", "TYPE_STRING"],
    [{ labels: ["a"] }, "service.labels", "TYPE_STRING"],
  ])("rejects %j at %s", (value, path, typeLabel) => {
    const error = thrown(() => parseService(value));
    expect(error.message).toMatch(new RegExp(`^Invalid value at '${path.replace(/[[\].]/g, "\\$&")}' \\(${typeLabel.replace(/\./g, "\\.")}\\), `));
    expect(error.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: path, description: error.message }] }]);
  });

  it("normalizes durations and timestamps", () => {
    const parsed = parseService({ createTime: "2025-01-02T03:04:05.120+01:00", template: { timeout: "0.000000001s" } });
    expect(parsed).toEqual({ createTime: "2025-01-02T02:04:05.12Z", template: { timeout: "0.000000001s" } });
  });

  it("reads Any by its type URL and rejects unknown types", () => {
    const operation = json.parseMessage(TYPES.operation, { name: "o", response: { "@type": "type.googleapis.com/google.cloud.run.v2.Service", ingress: 1 } }, "");
    expect(operation.response).toEqual({ "@type": "type.googleapis.com/google.cloud.run.v2.Service", ingress: "INGRESS_TRAFFIC_ALL" });
    expect(thrown(() => json.parseMessage(TYPES.operation, { response: { "@type": "type.googleapis.com/no.Such" } }, "")).message).toContain("Unknown type");
  });
});

describe("ProtoJson.render", () => {
  const service = { ingress: "INGRESS_TRAFFIC_ALL", name: "n", terminalCondition: { type: "Ready", state: "CONDITION_FAILED", revisionReason: "HEALTH_CHECK_CONTAINER_ERROR" } };

  it("writes enums as names, or as numbers when asked, in declaration order", () => {
    expect(json.render(TYPES.service, service, { numericEnums: false })).toEqual(service);
    const numeric = json.render(TYPES.service, service, { numericEnums: true });
    expect(numeric).toEqual({ name: "n", ingress: 1, terminalCondition: { type: "Ready", state: 3, revisionReason: 6 } });
    expect(Object.keys(numeric)).toEqual(["name", "ingress", "terminalCondition"]);
  });

  it("renders the Service inside an Operation's Any", () => {
    const operation = { name: "o", done: true, response: { "@type": "type.googleapis.com/google.cloud.run.v2.Service", ...service } };
    expect(json.render(TYPES.operation, operation, { numericEnums: true }).response).toMatchObject({ "@type": expect.any(String), ingress: 1 });
  });

  it("refuses to render a field the type does not have", () => {
    expect(() => json.render(TYPES.service, { colour: "red" }, { numericEnums: false })).toThrow(/no field colour/);
  });
});

describe("ProtoJson.withoutOutputOnly", () => {
  it("drops output-only fields at every depth and keeps the rest", () => {
    const stripped = json.withoutOutputOnly(TYPES.service, {
      name: "n",
      uid: "u",
      etag: "e",
      reconciling: true,
      template: { containers: [{ image: "i", buildInfo: { functionTarget: "f" } }] },
    });
    expect(stripped).toEqual({ name: "n", etag: "e", template: { containers: [{ image: "i" }] } });
  });
});

describe("bindQuery", () => {
  it("binds scalars, booleans, nested fields and field masks", () => {
    const query = new URLSearchParams("pageSize=5&showDeleted=true&$alt=json;enum-encoding=int");
    expect(bindQuery(json, TYPES.listServicesRequest, query, ["parent"])).toEqual({ pageSize: 5, showDeleted: true });
    expect(bindQuery(json, TYPES.getIamPolicyRequest, new URLSearchParams("options.requestedPolicyVersion=3"), ["resource"])).toEqual({
      options: { requestedPolicyVersion: 3 },
    });
    expect(bindQuery(json, TYPES.updateServiceRequest, new URLSearchParams("update_mask=labels,template"), ["service"])).toEqual({
      updateMask: "labels,template",
    });
  });

  it("refuses unknown parameters, fields bound elsewhere, and bad values", () => {
    expect(thrown(() => bindQuery(json, TYPES.listServicesRequest, new URLSearchParams("size=1"))).message).toBe(
      `Invalid JSON payload received. Unknown name "size": Cannot bind query parameter. Field 'size' could not be found in request message.`,
    );
    expect(() => bindQuery(json, TYPES.listServicesRequest, new URLSearchParams("parent=x"), ["parent"])).toThrow(ApiError);
    expect(() => bindQuery(json, TYPES.listServicesRequest, new URLSearchParams("showDeleted=yes"))).toThrow(/TYPE_BOOL/);
    expect(() => bindQuery(json, TYPES.updateServiceRequest, new URLSearchParams("service.name=x"), ["service"])).toThrow(ApiError);
  });
});

describe("replyFormat", () => {
  it("reads enum encoding and pretty printing from the system parameters", () => {
    expect(replyFormat(new URLSearchParams("$alt=json;enum-encoding=int&$prettyPrint=0"))).toEqual({ numericEnums: true, pretty: false });
    expect(replyFormat(new URLSearchParams(""))).toEqual({ numericEnums: false, pretty: true });
  });
});
