/**
 * @module
 * The defaults Cloud Run fills into a Service it accepts, so a read returns what will actually run:
 * ingress ALL, launch stage GA, all traffic to the latest revision, at most 100 instances, a 300 s
 * timeout, the project's default compute service account, concurrency 80 (1 below one CPU), 1 CPU and
 * 512 MiB with CPU allocated only during requests, port 8080 (`http1`) on the ingress container, and
 * the default TCP startup probe.
 */
import { DEFAULT_LIMITS, parseCpu } from "./resource-limits.ts";

type Json = Record<string, any>;

/** The port Cloud Run sends requests to when the container names none. */
export const DEFAULT_PORT = 8080;
/** Instances per revision when the template sets no maximum. */
export const DEFAULT_MAX_INSTANCES = 100;
/** Request timeout when the template sets none. */
export const DEFAULT_TIMEOUT = "300s";

/** The account a revision runs as unless the template names one. */
export function defaultServiceAccount(projectNumber: string): string {
  return `${projectNumber}-compute@developer.gserviceaccount.com`;
}

/** A copy of `service` with Google's defaults filled in; fields the caller set are kept. */
export function withDefaults(service: Json, projectNumber: string): Json {
  const result: Json = structuredClone(service);
  result.ingress ??= "INGRESS_TRAFFIC_ALL";
  result.launchStage ??= "GA";
  if (!result.traffic?.length) result.traffic = [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 100 }];
  const template: Json = (result.template ??= {});
  template.scaling = { ...template.scaling };
  template.scaling.maxInstanceCount ||= DEFAULT_MAX_INSTANCES;
  template.timeout ??= DEFAULT_TIMEOUT;
  template.serviceAccount ??= defaultServiceAccount(projectNumber);
  const containers: Json[] = (template.containers ??= []);
  let cpu = 0;
  for (const container of containers) {
    // Sending `resources` at all opts out of the cpuIdle default (the caller must set it explicitly).
    container.resources ??= { cpuIdle: true };
    container.resources.limits = { ...DEFAULT_LIMITS, ...container.resources.limits };
    cpu += parseCpu(container.resources.limits.cpu) ?? 1;
  }
  template.maxInstanceRequestConcurrency ||= cpu >= 1 ? 80 : 1;
  const ingress = containers.length === 1 ? containers[0] : containers.find((container) => container.ports?.length);
  if (ingress) {
    if (!ingress.ports?.length) ingress.ports = [{ name: "http1", containerPort: DEFAULT_PORT }];
    const port = ingress.ports[0];
    port.name ||= "http1";
    port.containerPort ||= DEFAULT_PORT;
    ingress.startupProbe = withProbeDefaults(
      ingress.startupProbe ?? { timeoutSeconds: 240, periodSeconds: 240, failureThreshold: 1, tcpSocket: {} },
      port.containerPort,
      "tcpSocket",
    );
    if (ingress.livenessProbe) ingress.livenessProbe = withProbeDefaults(ingress.livenessProbe, port.containerPort, "httpGet");
  }
  return result;
}

/**
 * A probe with its defaults: every 10 s, 1 s timeout, 3 failures, `defaultAction` when it names no
 * check, and the container's port.
 */
function withProbeDefaults(probe: Json, port: number, defaultAction: "tcpSocket" | "httpGet"): Json {
  const result: Json = { periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, ...probe };
  if (!result.httpGet && !result.grpc && !result.tcpSocket) result[defaultAction] = {};
  for (const action of ["tcpSocket", "httpGet", "grpc"]) {
    if (result[action]) result[action] = { ...result[action], port: result[action].port || port };
  }
  if (result.httpGet) result.httpGet.path ||= "/";
  return result;
}
