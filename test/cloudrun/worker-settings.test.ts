/**
 * The worker's settings from its environment, and the instance id read from a metadata server (a
 * loopback stand-in that checks the header Google's does), with its random fallback.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isKind } from "../../src/core.ts";
import { DEPLOYMENT_KEY_ENV, newDeploymentKey } from "../../src/systems/cloudrun/attach-protocol.ts";
import { WORKER_DEFAULTS, WORKER_ENV, workerConfigFrom } from "../../worker/config.ts";
import { INSTANCE_ID_PATH, readInstanceId } from "../../worker/instance-id.ts";
import { thrown } from "../helpers.ts";

describe("worker settings", () => {
  const key = newDeploymentKey();

  it("need a deployment key, and a real one", () => {
    const missing = thrown<Error>(() => workerConfigFrom({ PORT: "8080" }));
    expect(isKind(missing, "precondition")).toBe(true);
    expect(missing.message).toContain(`${DEPLOYMENT_KEY_ENV} is not set`);
    expect(isKind(thrown<Error>(() => workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: "short" })), "invalid")).toBe(true);
  });

  it("take PORT and the timings, with defaults and loopback unless told otherwise", () => {
    const config = workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: key, PORT: "9090", [WORKER_ENV.endedLingerMs]: "250" });
    expect(config).toMatchObject({ port: 9090, host: "127.0.0.1", deploymentKey: key, endedLingerMs: 250, stopGraceMs: WORKER_DEFAULTS.stopGraceMs });
    expect(workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: key }).port).toBe(8080);
    expect(workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: key, [WORKER_ENV.host]: "0.0.0.0" }).host).toBe("0.0.0.0");
  });

  it("refuse malformed values, naming the variable", () => {
    expect(thrown<Error>(() => workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: key, PORT: "eighty" })).message).toMatch(/PORT must be a port number/);
    expect(thrown<Error>(() => workerConfigFrom({ [DEPLOYMENT_KEY_ENV]: key, [WORKER_ENV.handshakeTimeoutMs]: "-5" })).message).toContain(WORKER_ENV.handshakeTimeoutMs);
  });
});

describe("the instance id", () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  async function metadataServer(answer: (flavor: string | undefined, path: string) => [number, string]): Promise<string> {
    server = createServer((req, res) => {
      const [status, body] = answer(req.headers["metadata-flavor"] as string | undefined, req.url ?? "");
      res.writeHead(status, { "metadata-flavor": "Google" }).end(body);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("is read from the metadata server, with the Metadata-Flavor header", async () => {
    const host = await metadataServer((flavor, path) => (flavor === "Google" && path === INSTANCE_ID_PATH ? [200, "00bf4bf02d1234abcd"] : [403, "no"]));
    const logged: string[] = [];
    expect(await readInstanceId({ metadataHost: host, log: (l) => logged.push(l) })).toEqual({ id: "00bf4bf02d1234abcd", source: "metadata" });
    expect(logged).toEqual([]);
  });

  it("falls back to a random id, saying why, when the server refuses or is not there", async () => {
    const host = await metadataServer(() => [404, "not found"]);
    const logged: string[] = [];
    const refused = await readInstanceId({ metadataHost: host, log: (l) => logged.push(l) });
    expect(refused.source).toBe("random");
    expect(refused.id).toMatch(/^[0-9a-f]{32}$/);
    expect(logged[0]).toMatch(/HTTP 404.*using the random id/);

    // The test setup points GCE_METADATA_HOST at a closed port.
    const absent = await readInstanceId({ log: (l) => logged.push(l) });
    expect(absent.source).toBe("random");
    expect(absent.id).not.toBe(refused.id);
    expect(logged).toHaveLength(2);
  });
});
