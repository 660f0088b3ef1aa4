/**
 * The pure parts of the service deployer: the Service resource built for the worker, which settings of
 * an existing service fall short, and how Admin API failures and failed conditions are read.
 */
import { describe, expect, it } from "vitest";
import { isFatal, isKind, isTemporary } from "../../core.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "./attach-protocol.ts";
import { adminApiError, failedConditionReason, statusOf } from "./service-errors.ts";
import { deploymentKeyOf, resolveServiceOptions, serviceDifferences, workerServiceSpec } from "./service-spec.ts";

const KEY = newDeploymentKey();
const options = () => resolveServiceOptions({ name: "workers", image: "worker:1", region: "us-central1", project: "p", machines: 4, requestTimeoutMs: 900_000 });

describe("workerServiceSpec and serviceDifferences", () => {
  it("builds the worker's settings and finds nothing missing in them", () => {
    const spec = workerServiceSpec(options(), KEY);
    expect(spec.template).toMatchObject({
      maxInstanceRequestConcurrency: 1,
      sessionAffinity: true,
      timeout: { seconds: 900 },
      executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2",
      scaling: { minInstanceCount: 0, maxInstanceCount: 4 },
    });
    expect(spec.template?.containers?.[0]?.resources).toEqual({ limits: { cpu: "1", memory: "512Mi" }, cpuIdle: false, startupCpuBoost: true });
    expect(deploymentKeyOf(spec)).toBe(KEY);
    expect(serviceDifferences(spec, options())).toEqual([]);
    // A higher ceiling than asked for is kept, never lowered.
    expect(workerServiceSpec(options(), KEY, 10).template?.scaling?.maxInstanceCount).toBe(10);
  });

  it("names each setting an existing service lacks", () => {
    const spec = workerServiceSpec(options(), KEY);
    const container = spec.template!.containers![0]!;
    spec.template!.scaling!.maxInstanceCount = 2;
    spec.template!.timeout = { seconds: "300" };
    container.image = "worker:0";
    container.resources!.cpuIdle = null;
    container.env = [];
    expect(serviceDifferences(spec, options()).sort()).toEqual(["cpuIdle", `env.${DEPLOYMENT_KEY_ENV}`, "image", "maxInstanceCount", "timeout"].sort());
  });

  it("refuses options the service could not run with", () => {
    const bad = (extra: object) => () => resolveServiceOptions({ ...{ name: "w", image: "i", region: "r", project: "p" }, ...extra });
    for (const extra of [{ name: "-w" }, { name: "w-" }, { requestTimeoutMs: 3_600_001 }, { requestTimeoutMs: 90_500 }, { machines: 0 }, { env: { PORT: "1" } }, { project: "" }]) {
      expect(bad(extra)).toThrow(expect.objectContaining({ kind: "invalid" }));
    }
  });
});

describe("Admin API failures", () => {
  it("reads a status from gRPC codes, HTTP statuses and Google's JSON error bodies", () => {
    expect(statusOf({ code: 7 })).toBe("PERMISSION_DENIED");
    expect(statusOf(Object.assign(new Error("{}"), { code: 403, status: 403, response: {} }))).toBe("PERMISSION_DENIED");
    expect(statusOf(Object.assign(new Error(JSON.stringify({ code: 409, message: "exists", status: "ALREADY_EXISTS" })), { code: 409, status: 409, response: {} }))).toBe("ALREADY_EXISTS");
    expect(statusOf(new Error("socket hang up"))).toBeUndefined();
  });

  it("makes permission denied unauthorized and fatal, and a stale etag retriable", () => {
    const denied = adminApiError("create service s", Object.assign(new Error("denied"), { code: 7 }));
    expect(isKind(denied, "unauthorized")).toBe(true);
    expect(isFatal(denied)).toBe(true);
    expect(denied.message).toContain("PERMISSION_DENIED");
    const stale = adminApiError("update service s", Object.assign(new Error("etag"), { code: 10 }));
    expect(isKind(stale, "precondition")).toBe(true);
    expect(isTemporary(stale)).toBe(true);
  });

  it("names the reason of a failed condition, whether enums arrive as names or numbers", () => {
    expect(failedConditionReason({ state: "CONDITION_FAILED", reason: "CONTAINER_MISSING" })).toBe("CONTAINER_MISSING");
    // Over the REST transport enums arrive as numbers: 3 is FAILED, revision reason 6 is HEALTH_CHECK_CONTAINER_ERROR.
    expect(failedConditionReason({ state: 3, revisionReason: 6 })).toBe("HEALTH_CHECK_CONTAINER_ERROR");
    expect(failedConditionReason({ state: 3, reason: 6 })).toBe("CONTAINER_MISSING");
    expect(failedConditionReason({ state: "CONDITION_SUCCEEDED" })).toBeUndefined();
    expect(failedConditionReason(undefined)).toBeUndefined();
  });
});
