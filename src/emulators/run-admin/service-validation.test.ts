/**
 * Cloud Run's rules for a Service, service ids and revision names, the CPU/memory table, and the
 * defaults filled into accepted services.
 */
import { describe, expect, it } from "vitest";
import { ApiError, type FieldViolation } from "./api-error.ts";
import { generatedRevisionName, revisionNameProblem, serviceIdProblem } from "./resource-names.ts";
import { isAllowedCpu, memoryRangeFor, parseCpu, parseMemory } from "./resource-limits.ts";
import { withDefaults } from "./service-defaults.ts";
import { checkService } from "./service-validation.ts";

type Json = Record<string, any>;

const context = { requestType: "CreateServiceRequest", serviceId: "svc", knownRevisions: new Set(["svc-00001-abc"]) };

function service(template: Json = {}, rest: Json = {}): Json {
  return { ...rest, template: { containers: [{ image: "img:1" }], ...template } };
}

/** The violations `checkService` reports for `value` (none if it passes). */
function violations(value: Json): FieldViolation[] {
  try {
    checkService(value, context);
    return [];
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    expect(error.code).toBe("INVALID_ARGUMENT");
    return (error.details[0] as { fieldViolations: FieldViolation[] }).fieldViolations;
  }
}

function fieldsOf(value: Json): string[] {
  return violations(value).map((violation) => violation.field);
}

describe("checkService", () => {
  it("accepts a minimal service and a fully specified one", () => {
    expect(violations(service())).toEqual([]);
    expect(
      violations(
        service(
          {
            revision: "svc-blue",
            labels: { tier: "backend" },
            annotations: { "example.com/owner": "me" },
            scaling: { minInstanceCount: 1, maxInstanceCount: 3 },
            timeout: "3600s",
            maxInstanceRequestConcurrency: 1000,
            serviceAccount: "runner@p.iam.gserviceaccount.com",
            executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2",
            volumes: [{ name: "scratch", emptyDir: {} }],
            containers: [
              {
                name: "app",
                image: "img:1",
                ports: [{ name: "h2c", containerPort: 9000 }],
                env: [{ name: "MODE", value: "x".repeat(32_768) }, { name: "KEY", valueSource: { secretKeyRef: { secret: "k", version: "1" } } }],
                resources: { limits: { cpu: "4", memory: "16Gi" }, cpuIdle: false },
                volumeMounts: [{ name: "scratch", mountPath: "/tmp/scratch" }],
                startupProbe: { httpGet: { path: "/ready" }, periodSeconds: 240, timeoutSeconds: 240 },
                dependsOn: ["sidecar"],
              },
              { name: "sidecar", image: "side:1" },
            ],
          },
          { description: "d".repeat(512), traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "svc-00001-abc", percent: 100 }] },
        ),
      ),
    ).toEqual([]);
  });

  it("requires a template, containers and images, in Google's words", () => {
    expect(violations({})).toEqual([
      { field: "service.template", description: "Violation in CreateServiceRequest.service.template: required field not present." },
    ]);
    expect(fieldsOf(service({ containers: [] }))).toEqual(["service.template.containers"]);
    expect(fieldsOf(service({ containers: [{ name: "a" }] }))).toEqual(["service.template.containers[0].image"]);
  });

  it("rejects reserved label and annotation namespaces and malformed keys", () => {
    expect(fieldsOf(service({}, { labels: { "run.googleapis.com/x": "1" } }))).toEqual(['service.labels["run.googleapis.com/x"]']);
    expect(fieldsOf(service({ annotations: { "autoscaling.knative.dev/maxScale": "3" } }))).toEqual([
      'service.template.annotations["autoscaling.knative.dev/maxScale"]',
    ]);
    for (const prefix of ["cloud.googleapis.com", "serving.knative.dev", "x.run.googleapis.com"]) {
      expect(fieldsOf(service({}, { annotations: { [`${prefix}/a`]: "b" } }))).toHaveLength(1);
    }
    expect(fieldsOf(service({}, { labels: { Upper: "x" } }))).toEqual(['service.labels["Upper"]']);
    expect(fieldsOf(service({}, { labels: { ok: "Not OK" } }))).toEqual(['service.labels["ok"]']);
    expect(fieldsOf(service({}, { annotations: { "-bad": "x" } }))).toEqual(['service.annotations["-bad"]']);
  });

  it("limits description, timeout, concurrency and scaling", () => {
    expect(fieldsOf(service({}, { description: "d".repeat(513) }))).toEqual(["service.description"]);
    expect(fieldsOf(service({ timeout: "3601s" }))).toEqual(["service.template.timeout"]);
    expect(fieldsOf(service({ timeout: "-1s" }))).toEqual(["service.template.timeout"]);
    expect(fieldsOf(service({ maxInstanceRequestConcurrency: 1001 }))).toEqual(["service.template.max_instance_request_concurrency"]);
    expect(fieldsOf(service({ scaling: { minInstanceCount: 5, maxInstanceCount: 2 } }))).toEqual(["service.template.scaling.min_instance_count"]);
    expect(fieldsOf(service({}, { scaling: { minInstanceCount: 3, maxInstanceCount: 1 } }))).toEqual(["service.scaling.min_instance_count"]);
    expect(fieldsOf(service({ scaling: { minInstanceCount: 5 } }))).toEqual([]); // no max: the default of 100 applies
  });

  it("checks ports, environment variables and revision names", () => {
    expect(fieldsOf(service({ containers: [{ image: "i", ports: [{ containerPort: 80 }, { containerPort: 81 }] }] }))).toEqual([
      "service.template.containers[0].ports",
    ]);
    expect(fieldsOf(service({ containers: [{ image: "i", ports: [{ name: "http2", containerPort: 70000 }] }] }))).toEqual([
      "service.template.containers[0].ports[0].name",
      "service.template.containers[0].ports[0].container_port",
    ]);
    const reserved = violations(service({ containers: [{ image: "i", env: [{ name: "PORT", value: "1" }, { name: "K_REVISION", value: "r" }] }] }));
    expect(reserved).toEqual([
      {
        field: "service.template.containers[0].env",
        description: "The following reserved env names were provided: PORT, K_REVISION. These values are automatically set by the system.",
      },
    ]);
    expect(fieldsOf(service({ containers: [{ image: "i", env: [{ name: "BIG", value: "x".repeat(32_769) }] }] }))).toEqual([
      "service.template.containers[0].env[0].value",
    ]);
    expect(fieldsOf(service({ containers: [{ image: "i", env: [{ name: "A", value: "1" }, { name: "A", value: "2" }] }] }))).toEqual([
      "service.template.containers[0].env[1].name",
    ]);
    expect(fieldsOf(service({ revision: "other-1" }))).toEqual(["service.template.revision"]);
  });

  it("needs exactly one ingress container when there are several", () => {
    const twoPorts = service({ containers: [{ name: "a", image: "i", ports: [{ containerPort: 80 }] }, { name: "b", image: "i", ports: [{ containerPort: 81 }] }] });
    expect(fieldsOf(twoPorts)).toEqual(["service.template.containers"]);
    const unnamed = service({ containers: [{ image: "i", ports: [{ containerPort: 80 }] }, { name: "b", image: "i" }] });
    expect(fieldsOf(unnamed)).toEqual(["service.template.containers[0].name"]);
  });

  it("applies the CPU and memory table", () => {
    const sized = (limits: Json, template: Json = {}) => service({ ...template, containers: [{ image: "i", resources: { limits, cpuIdle: true } }] });
    expect(fieldsOf(sized({ cpu: "1", memory: "4Gi" }))).toEqual([]);
    expect(fieldsOf(sized({ cpu: "1", memory: "8Gi" }))).toEqual(["service.template.containers"]);
    expect(violations(sized({ cpu: "1", memory: "8Gi" }))[0]!.description).toContain("memory must be between 128Mi and 4Gi");
    expect(fieldsOf(sized({ cpu: "4", memory: "1Gi" }))).toEqual(["service.template.containers"]);
    expect(fieldsOf(sized({ cpu: "3" }))).toEqual(['service.template.containers[0].resources.limits["cpu"]']);
    expect(fieldsOf(sized({ memory: "lots" }))).toEqual(['service.template.containers[0].resources.limits["memory"]']);
    expect(fieldsOf(sized({ cpu: "500m", memory: "1Gi" }, { maxInstanceRequestConcurrency: 1 }))).toEqual([]);
    expect(fieldsOf(sized({ cpu: "500m" }))).toEqual([]); // concurrency defaults to 1 below one CPU
    expect(fieldsOf(sized({ cpu: "0.25", memory: "1Gi" }, { maxInstanceRequestConcurrency: 1 }))).toEqual(["service.template.containers"]);
    expect(fieldsOf(sized({ cpu: "500m" }, { maxInstanceRequestConcurrency: 80 }))).toEqual(["service.template.max_instance_request_concurrency"]);
    expect(fieldsOf(sized({ cpu: "500m" }, { executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2" }))).toEqual(["service.template.execution_environment"]);
    expect(fieldsOf(service({ containers: [{ image: "i", resources: { limits: { cpu: "500m" } } }] }))).toEqual(["service.template.containers"]);
    expect(fieldsOf(sized({ "nvidia.com/gpu": "1", disk: "1Gi" }))).toEqual(['service.template.containers[0].resources.limits["disk"]']);
  });

  it("checks traffic targets", () => {
    const traffic = (targets: Json[]) => service({}, { traffic: targets });
    expect(fieldsOf(traffic([{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 90 }]))).toEqual(["service.traffic"]);
    expect(fieldsOf(traffic([{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", revision: "svc-gone", percent: 100 }]))).toEqual([
      "service.traffic[0].revision",
    ]);
    expect(fieldsOf(traffic([{ percent: 100 }]))).toEqual(["service.traffic[0].type"]);
  });

  it("reports every violation at once", () => {
    expect(fieldsOf(service({ timeout: "4000s", maxInstanceRequestConcurrency: 5000 }, { description: "d".repeat(600) }))).toHaveLength(3);
  });
});

describe("service ids and revision names", () => {
  it.each(["a", "worker", "w-1", "a".repeat(49)])("accepts service id %s", (id) => {
    expect(serviceIdProblem(id)).toBeUndefined();
  });
  it.each(["", "1worker", "Worker", "work_er", "worker-", "a".repeat(50), "wörker"])("rejects service id %j", (id) => {
    expect(serviceIdProblem(id)).toContain("service_id");
  });
  it("names revisions SERVICE-GENERATION-SUFFIX and checks given names", () => {
    expect(generatedRevisionName("svc", 12)).toMatch(/^svc-00012-[a-z0-9]{3}$/);
    expect(revisionNameProblem("svc", "svc-v2")).toBeUndefined();
    expect(revisionNameProblem("svc", "svcv2")).toContain("prefixed");
    expect(revisionNameProblem("svc", `svc-${"x".repeat(60)}`)).toContain("DNS label");
  });
});

describe("resource quantities", () => {
  it("parses CPU and memory quantities", () => {
    expect([parseCpu("1"), parseCpu("1000m"), parseCpu("0.5"), parseCpu("80m"), parseCpu("one")]).toEqual([1, 1, 0.5, 0.08, undefined]);
    expect([parseMemory("512Mi"), parseMemory("2Gi"), parseMemory("1G"), parseMemory("1024"), parseMemory("2 GB")]).toEqual([
      512 * 1024 ** 2,
      2 * 1024 ** 3,
      1e9,
      1024,
      undefined,
    ]);
  });
  it("knows the allowed CPU sizes and their memory ranges", () => {
    expect([0.08, 0.5, 1, 2, 4, 6, 8].every(isAllowedCpu)).toBe(true);
    expect([0.05, 1.5, 3, 16].some(isAllowedCpu)).toBe(false);
    expect(memoryRangeFor(2, false)).toEqual({ min: 128 * 1024 ** 2, max: 8 * 1024 ** 3 });
    expect(memoryRangeFor(8, true)).toEqual({ min: 4 * 1024 ** 3, max: 32 * 1024 ** 3 });
  });
});

describe("withDefaults", () => {
  it("fills what Google fills, keeping what the caller set", () => {
    const filled = withDefaults(service(), "42");
    expect(filled).toMatchObject({
      ingress: "INGRESS_TRAFFIC_ALL",
      launchStage: "GA",
      traffic: [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 100 }],
      template: {
        scaling: { maxInstanceCount: 100 },
        timeout: "300s",
        serviceAccount: "42-compute@developer.gserviceaccount.com",
        maxInstanceRequestConcurrency: 80,
        containers: [
          {
            resources: { limits: { cpu: "1000m", memory: "512Mi" }, cpuIdle: true },
            ports: [{ name: "http1", containerPort: 8080 }],
            startupProbe: { tcpSocket: { port: 8080 }, timeoutSeconds: 240, periodSeconds: 240, failureThreshold: 1 },
          },
        ],
      },
    });
    const kept = withDefaults(
      service({ maxInstanceRequestConcurrency: 5, containers: [{ image: "i", resources: { limits: { cpu: "500m" } }, ports: [{ containerPort: 3000 }] }] }),
      "42",
    );
    expect(kept.template.maxInstanceRequestConcurrency).toBe(5);
    expect(kept.template.containers[0].resources).toEqual({ limits: { cpu: "500m", memory: "512Mi" } }); // no cpuIdle: resources were sent
    expect(kept.template.containers[0].ports).toEqual([{ name: "http1", containerPort: 3000 }]);
    expect(withDefaults(service({ containers: [{ image: "i", resources: { limits: { cpu: "0.5" }, cpuIdle: true } }] }), "42").template.maxInstanceRequestConcurrency).toBe(1);
  });
});
