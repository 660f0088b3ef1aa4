/**
 * @module
 * The status conditions of a Service as Cloud Run reports them: a terminal `Ready` condition and the
 * `RoutesReady` and `ConfigurationsReady` sub-conditions, each moving from pending or reconciling to
 * succeeded or failed. A failure carries its reason in the right oneof member (`reason` for the common
 * reasons such as `CONTAINER_MISSING`, `revisionReason` for revision ones such as
 * `HEALTH_CHECK_CONTAINER_ERROR`).
 */
import { runSchema } from "./proto-schema.ts";

/** A `google.cloud.run.v2.Condition` in canonical JSON. */
export interface Condition {
  type: string;
  state: "CONDITION_PENDING" | "CONDITION_RECONCILING" | "CONDITION_FAILED" | "CONDITION_SUCCEEDED";
  message?: string;
  lastTransitionTime?: string;
  severity?: "ERROR" | "WARNING" | "INFO";
  reason?: string;
  revisionReason?: string;
}

/** The status fields conditions occupy on a Service. */
export interface ServiceConditions {
  terminalCondition: Condition;
  conditions: Condition[];
}

/** How a deployment failed. */
export interface Failure {
  message: string;
  /** A Condition reason name; unknown names are reported as `UNKNOWN`. */
  reason: string;
  /** Whether an earlier revision still serves the service's traffic. */
  earlierRevisionServing: boolean;
}

const COMMON_REASONS = "google.cloud.run.v2.Condition.CommonReason";
const REVISION_REASONS = "google.cloud.run.v2.Condition.RevisionReason";

/** Conditions while a new generation is being rolled out. */
export function reconcilingConditions(previous: ServiceConditions | undefined, now: string): ServiceConditions {
  const routesState = previous ? "CONDITION_RECONCILING" : "CONDITION_PENDING";
  return build(previous, now, {
    Ready: { state: "CONDITION_RECONCILING" },
    ConfigurationsReady: { state: "CONDITION_RECONCILING" },
    RoutesReady: { state: routesState },
  });
}

/** Conditions once the latest revision is ready and serving. */
export function succeededConditions(previous: ServiceConditions | undefined, now: string): ServiceConditions {
  return build(previous, now, {
    Ready: { state: "CONDITION_SUCCEEDED" },
    ConfigurationsReady: { state: "CONDITION_SUCCEEDED" },
    RoutesReady: { state: "CONDITION_SUCCEEDED" },
  });
}

/** Conditions once the latest revision failed to become ready. */
export function failedConditions(previous: ServiceConditions | undefined, now: string, failure: Failure): ServiceConditions {
  const failed: Partial<Condition> = { state: "CONDITION_FAILED", message: failure.message, severity: "ERROR", ...reasonField(failure.reason) };
  return build(previous, now, {
    Ready: failed,
    ConfigurationsReady: failed,
    RoutesReady: failure.earlierRevisionServing ? { state: "CONDITION_SUCCEEDED" } : failed,
  });
}

/** `{reason}` or `{revisionReason}`, whichever enum knows the name. */
function reasonField(reason: string): Pick<Condition, "reason" | "revisionReason"> {
  const schema = runSchema();
  if (schema.enum(COMMON_REASONS).numberOf.has(reason)) return { reason };
  if (schema.enum(REVISION_REASONS).numberOf.has(reason)) return { revisionReason: reason };
  return { reason: "UNKNOWN" };
}

function build(
  previous: ServiceConditions | undefined,
  now: string,
  next: Record<"Ready" | "ConfigurationsReady" | "RoutesReady", Partial<Condition>>,
): ServiceConditions {
  const before = new Map<string, Condition>(
    previous ? [previous.terminalCondition, ...previous.conditions].map((condition) => [condition.type, condition]) : [],
  );
  const make = (type: keyof typeof next): Condition => {
    const condition = { type, ...next[type] } as Condition;
    const earlier = before.get(type);
    // The transition time moves only when the state does.
    condition.lastTransitionTime = earlier && earlier.state === condition.state ? earlier.lastTransitionTime : now;
    return condition;
  };
  return { terminalCondition: make("Ready"), conditions: [make("RoutesReady"), make("ConfigurationsReady")] };
}
