/** How a Service's template becomes revision settings, with Cloud Run's defaults. */
import { describe, expect, it } from "vitest";
import type { RunService } from "../contracts.ts";
import { instanceArgv, revisionConfig, revisionNameOf } from "./config.ts";

const NAME = "projects/p/locations/europe-west1/services/worker";

function service(template: Record<string, any>, extra: Record<string, any> = {}): RunService {
  return { name: NAME, ...extra, template };
}

describe("revisionConfig", () => {
  it("applies Cloud Run's defaults to a bare template", () => {
    const config = revisionConfig(service({ containers: [{ image: "img" }] }));
    expect(config).toMatchObject({
      serviceName: NAME,
      serviceId: "worker",
      image: "img",
      concurrency: 80,
      minInstances: 0,
      maxInstances: 100,
      timeoutMs: 300_000,
      sessionAffinity: false,
      ingressNone: false,
      invokerIamDisabled: false,
      customAudiences: [],
      command: [],
      args: [],
      env: {},
    });
  });

  it("reads the memory limit, Cloud Run's 512 MiB when unset", () => {
    expect(revisionConfig(service({ containers: [{ image: "i" }] })).memoryLimitBytes).toBe(512 * 1024 * 1024);
    expect(revisionConfig(service({ containers: [{ image: "i", resources: { limits: { memory: "2Gi" } } }] })).memoryLimitBytes).toBe(2 * 1024 ** 3);
  });

  it("defaults concurrency to 1 below one vCPU and to 80 from one vCPU", () => {
    const withCpu = (cpu: string) => revisionConfig(service({ containers: [{ image: "i", resources: { limits: { cpu } } }] }));
    expect(withCpu("500m").concurrency).toBe(1);
    expect(withCpu("0.5").concurrency).toBe(1);
    expect(withCpu("1").concurrency).toBe(80);
    expect(withCpu("4").concurrency).toBe(80);
    const explicit = revisionConfig(service({ containers: [{ image: "i", resources: { limits: { cpu: "0.5" } } }], maxInstanceRequestConcurrency: 7 }));
    expect(explicit.concurrency).toBe(7);
  });

  it("reads int64 strings, durations, affinity, audiences, ingress and the invoker switch", () => {
    const config = revisionConfig(
      service(
        {
          containers: [{ image: "i", env: [{ name: "A", value: "1" }, { name: "SECRET", valueSource: { secretKeyRef: {} } }] }],
          scaling: { minInstanceCount: "2", maxInstanceCount: "3" },
          maxInstanceRequestConcurrency: "1",
          timeout: "2.5s",
          sessionAffinity: true,
        },
        { customAudiences: ["https://a.example"], ingress: "INGRESS_TRAFFIC_NONE", invokerIamDisabled: true },
      ),
    );
    expect(config).toMatchObject({
      minInstances: 2,
      maxInstances: 3,
      concurrency: 1,
      timeoutMs: 2_500,
      sessionAffinity: true,
      customAudiences: ["https://a.example"],
      ingressNone: true,
      invokerIamDisabled: true,
      env: { A: "1" },
    });
    expect(revisionConfig(service({ containers: [{ image: "i" }], timeout: { seconds: 9 } }, { ingress: 4 }))).toMatchObject({
      timeoutMs: 9_000,
      ingressNone: true,
    });
    expect(revisionConfig(service({ containers: [{ image: "i" }] }, { ingress: "INGRESS_TRAFFIC_INTERNAL_ONLY" })).ingressNone).toBe(false);
  });

  it("takes the container with a port as the ingress container", () => {
    const config = revisionConfig(
      service({ containers: [{ image: "sidecar" }, { image: "main", ports: [{ containerPort: 8080 }], command: ["serve"], args: ["--fast"] }] }),
    );
    expect(config).toMatchObject({ image: "main", command: ["serve"], args: ["--fast"] });
  });
});

describe("instanceArgv", () => {
  it("appends the container's command and args to the image's mapped command", () => {
    const config = revisionConfig(service({ containers: [{ image: "i", command: ["worker.js"], args: ["--port", "0"] }] }));
    expect(instanceArgv(["node"], config)).toEqual(["node", "worker.js", "--port", "0"]);
  });
});

describe("revisionNameOf", () => {
  it("uses the revision the Admin API recorded", () => {
    expect(revisionNameOf(service({}, { latestCreatedRevision: `${NAME}/revisions/worker-00003-abc` }), "worker", 1)).toBe("worker-00003-abc");
  });

  it("otherwise follows SERVICE-0000N-xyz with the generation, or the deploy count", () => {
    expect(revisionNameOf(service({}, { generation: "12" }), "worker", 1)).toMatch(/^worker-00012-[a-z]{3}$/);
    expect(revisionNameOf(service({}), "worker", 4)).toMatch(/^worker-00004-[a-z]{3}$/);
  });
});
