/**
 * @module
 * How the plane makes an instance of a revision: the container contract's environment, the command
 * of its image, and its output turned into Cloud Logging entries (stdout and stderr lines through
 * the logging agent's rules, plus `varlog/system` lines when an instance starts, dies unasked, or
 * breaks its memory limit).
 *
 * The environment is, lowest first: the few host variables the plane passes through (`PATH` and
 * `NODE_OPTIONS` by default: the image's command runs on this host's runtime), `GOOGLE_CLOUD_PROJECT`,
 * the image's own `ENV`, the container's `env`, then `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`; the
 * instance adds `PORT`, `GCE_METADATA_HOST`, `HOME` and `TMPDIR`. Nothing else of the host's leaks in.
 */
import type { LogEntry } from "../contracts.ts";
import { lineToEntry, preciseTimestamp } from "../logging/index.ts";
import { Instance } from "./instance.ts";
import type { Revision, StartReason } from "./pool.ts";

/** Everything an instance of one service's revision is made from. */
export interface InstanceSpec {
  projectId: string;
  region: string;
  /** Full service name. */
  serviceName: string;
  revision: Revision;
  reason: StartReason;
  onExit: (instance: Instance) => void;
  /** Where its log entries go. */
  ingest: (entry: LogEntry) => void;
  startMetadataServer(instance: { instanceId: string; serviceName: string }): Promise<{ hostPort: string; close(): Promise<void> }>;
  startupTimeoutMs: number;
  shutdownGraceMs: number;
  coldStartDelayMs: number;
  /** Host variables passed through to every instance. */
  hostEnv: Record<string, string>;
  /** Whether the revision's memory limit is enforced. */
  enforceMemoryLimit: boolean;
}

/** Makes (does not start) an instance, and logs that it is starting. */
export function createInstance(spec: InstanceSpec): Instance {
  const { revision, projectId, ingest } = spec;
  const { config } = revision;
  const resourceLabels = {
    project_id: projectId,
    service_name: config.serviceId,
    revision_name: revision.name,
    configuration_name: config.serviceId,
    location: spec.region,
  };
  // A memory kill is logged with Google's own message; no second line for the same end.
  let endLogged = false;
  const instance: Instance = new Instance({
    argv: revision.argv,
    env: {
      ...spec.hostEnv,
      // Cloud Run does not set it; here it keeps client libraries from asking this host's gcloud for the
      // project (which can reach Google) before they ask the instance's metadata server.
      GOOGLE_CLOUD_PROJECT: projectId,
      ...revision.imageEnv,
      ...config.env,
      K_SERVICE: config.serviceId,
      K_REVISION: revision.name,
      K_CONFIGURATION: config.serviceId,
    },
    revision: revision.name,
    onLine: (line, stream) =>
      ingest(lineToEntry(line, { projectId, stream, resourceLabels, instanceId: instance.id, timestamp: preciseTimestamp() })),
    onSystemLog: (severity, text) => {
      endLogged ||= severity === "ERROR";
      ingest(systemEntry(projectId, resourceLabels, instance.id, severity, text));
    },
    onExit: (exited) => {
      if (exited.exit && !exited.exit.planned && !endLogged) {
        ingest(systemEntry(projectId, resourceLabels, exited.id, "ERROR", `Instance stopped unexpectedly: ${exited.exit.reason}.`));
      }
      spec.onExit(exited);
    },
    startMetadataServer: (instanceId) => spec.startMetadataServer({ instanceId, serviceName: spec.serviceName }),
    startupTimeoutMs: spec.startupTimeoutMs,
    shutdownGraceMs: spec.shutdownGraceMs,
    coldStartDelayMs: spec.coldStartDelayMs,
    memoryLimitBytes: spec.enforceMemoryLimit ? config.memoryLimitBytes : undefined,
  });
  ingest(systemEntry(projectId, resourceLabels, instance.id, "INFO", `Starting new instance. Reason: ${spec.reason}.`));
  return instance;
}

/** A line of Cloud Run's system log (`run.googleapis.com/varlog/system`) about one instance. */
function systemEntry(projectId: string, labels: Record<string, string>, instanceId: string, severity: string, text: string): LogEntry {
  return {
    logName: `projects/${projectId}/logs/run.googleapis.com%2Fvarlog%2Fsystem`,
    resource: { type: "cloud_run_revision", labels: { ...labels } },
    timestamp: preciseTimestamp(),
    severity,
    labels: { instanceId },
    textPayload: text,
  };
}
