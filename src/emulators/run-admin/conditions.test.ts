/**
 * Service conditions: states through a rollout, where failure reasons go, and when transition times move.
 */
import { describe, expect, it } from "vitest";
import { failedConditions, reconcilingConditions, succeededConditions } from "./conditions.ts";

describe("service conditions", () => {
  it("moves from reconciling to succeeded, keeping transition times of unchanged states", () => {
    const reconciling = reconcilingConditions(undefined, "t1");
    expect(reconciling.terminalCondition).toEqual({ type: "Ready", state: "CONDITION_RECONCILING", lastTransitionTime: "t1" });
    expect(reconciling.conditions.map((condition) => condition.state)).toEqual(["CONDITION_PENDING", "CONDITION_RECONCILING"]);
    const succeeded = succeededConditions(reconciling, "t2");
    expect(succeeded.terminalCondition).toEqual({ type: "Ready", state: "CONDITION_SUCCEEDED", lastTransitionTime: "t2" });
    const again = succeededConditions(succeeded, "t3");
    expect(again.terminalCondition.lastTransitionTime).toBe("t2");
  });

  it("puts a failure's reason in the field its enum belongs to", () => {
    const failure = { message: "boom", earlierRevisionServing: false };
    expect(failedConditions(undefined, "t", { ...failure, reason: "CONTAINER_MISSING" }).terminalCondition).toMatchObject({
      state: "CONDITION_FAILED",
      message: "boom",
      severity: "ERROR",
      reason: "CONTAINER_MISSING",
    });
    expect(failedConditions(undefined, "t", { ...failure, reason: "HEALTH_CHECK_CONTAINER_ERROR" }).terminalCondition).toMatchObject({
      revisionReason: "HEALTH_CHECK_CONTAINER_ERROR",
    });
    expect(failedConditions(undefined, "t", { ...failure, reason: "SOMETHING_ELSE" }).terminalCondition.reason).toBe("UNKNOWN");
  });

  it("keeps routes ready when an earlier revision still serves", () => {
    const failed = failedConditions(undefined, "t", { message: "m", reason: "INTERNAL", earlierRevisionServing: true });
    expect(failed.conditions.map((condition) => [condition.type, condition.state])).toEqual([
      ["RoutesReady", "CONDITION_SUCCEEDED"],
      ["ConfigurationsReady", "CONDITION_FAILED"],
    ]);
  });
});
