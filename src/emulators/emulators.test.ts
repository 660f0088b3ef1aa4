import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { GoogleAuth, OAuth2Client, UserRefreshClient } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { emulatorOptionsFrom, parseImageEnvFlags, parseImageFlags, runEmulatorsCommand, UsageError } from "./cli.ts";
import { computeServiceAccount, DEFAULT_USER_EMAIL, projectNumberFor, startEmulators, type Emulators, type EmulatorsOptions } from "./index.ts";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("projectNumberFor", () => {
  it("gives a stable 12-digit number per project", () => {
    expect(projectNumberFor("alpha")).toMatch(/^[1-9]\d{11}$/);
    expect(projectNumberFor("alpha")).toBe(projectNumberFor("alpha"));
    expect(projectNumberFor("alpha")).not.toBe(projectNumberFor("beta"));
  });
});

describe("parseImageFlags", () => {
  it("splits COMMAND on whitespace and keeps the image name whole", () => {
    expect(parseImageFlags(["images.example/p/r/worker:1=node  worker.js --fast", "a@sha256:ab=./a"])).toEqual({
      "images.example/p/r/worker:1": ["node", "worker.js", "--fast"],
      "a@sha256:ab": ["./a"],
    });
  });

  it("refuses pairs without an image or a command", () => {
    for (const bad of ["no-equals", "=node x", "img=", "img=   "]) {
      expect(() => parseImageFlags([bad])).toThrow(/IMAGE=COMMAND/);
    }
  });
});

describe("parseImageEnvFlags", () => {
  it("reads IMAGE=NAME=VALUE, keeping '=' in the value", () => {
    expect(parseImageEnvFlags(["w:1=HOST=0.0.0.0", "w:1=OPTS=a=b", "x=EMPTY="])).toEqual({ "w:1": { HOST: "0.0.0.0", OPTS: "a=b" }, x: { EMPTY: "" } });
  });

  it("refuses triples without an image or a name", () => {
    for (const bad of ["w:1", "w:1=NAME", "=N=v", "w:1==v"]) expect(() => parseImageEnvFlags([bad])).toThrow(/IMAGE=NAME=VALUE/);
  });
});

describe("emulatorOptionsFrom", () => {
  const resolver = (image: string) => (image.startsWith("worker:") ? ["node", "worker.js"] : undefined);
  const base: EmulatorsOptions = {
    projectId: "from-base",
    region: "europe-west1",
    images: { "a:1": ["a"] },
    resolveImage: resolver,
    serving: { idleTimeoutMs: 5, slotHoldMs: 7 },
    iam: { propagationDelayMs: 9 },
    logging: { ingestionDelayMs: 11 },
  };

  it("applies flags over the base options and keeps what no flag touches", () => {
    const options = emulatorOptionsFrom(["--region", "asia-east1", "--image", "b:1=b --x", "--slot-hold-ms", "0", "--port-run", "4000"], base);
    expect(options).toMatchObject({
      projectId: "from-base",
      region: "asia-east1",
      images: { "a:1": ["a"], "b:1": ["b", "--x"] },
      resolveImage: resolver,
      serving: { idleTimeoutMs: 5, slotHoldMs: 0 },
      iam: { propagationDelayMs: 9 },
      logging: { ingestionDelayMs: 11 },
      ports: { run: 4000 },
    });
    expect(emulatorOptionsFrom([], base)).toMatchObject({ region: "europe-west1", serving: { slotHoldMs: 7 } });
  });

  it("adds --image-env to mapped images and to the resolver's answers", () => {
    const options = emulatorOptionsFrom(["--image-env", "a:1=A=1", "--image-env", "worker:2=HOST=0.0.0.0"], base) as EmulatorsOptions;
    expect(options.images!["a:1"]).toEqual({ command: ["a"], env: { A: "1" } });
    expect(options.resolveImage!("worker:2")).toEqual({ command: ["node", "worker.js"], env: { HOST: "0.0.0.0" } });
    expect(options.resolveImage!("worker:3")).toEqual(["node", "worker.js"]);
    expect(options.resolveImage!("other")).toBeUndefined();
    expect(() => emulatorOptionsFrom(["--image-env", "nowhere:1=A=1"])).toThrow(/no --image maps/);
  });

  it("reads --chaos SEED and its rates, and the IAM, credentials and memory flags", () => {
    expect(emulatorOptionsFrom(["--chaos", "42"])).toMatchObject({ chaos: { seed: "42" } });
    expect(
      emulatorOptionsFrom([
        "--chaos", "s", "--chaos-reclaims-per-minute", "2", "--chaos-drops-per-minute", "0.5", "--chaos-cold-start-max-ms", "100",
        "--iam-propagation-ms", "0", "--driver-not-project-invoker", "--driver-credentials", "user", "--memory-limits",
      ]),
    ).toMatchObject({
      chaos: { seed: "s", idleReclaimsPerMinute: 2, webSocketDropsPerMinute: 0.5, coldStartMaxDelayMs: 100 },
      iam: { propagationDelayMs: 0, driverIsProjectInvoker: false },
      driverCredentials: "user",
      serving: { enforceMemoryLimits: true },
    });
    for (const bad of [["--chaos-drops-per-minute", "1"], ["--chaos", "s", "--chaos-drops-per-minute", "-1"], ["--driver-credentials", "key"], ["--iam-propagation-ms", "soon"]]) {
      expect(() => emulatorOptionsFrom(bad), bad.join(" ")).toThrow(UsageError);
    }
  });
});

describe("runEmulatorsCommand flags", () => {
  let stderr: string;
  let stdout: string;
  beforeAll(() => {
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  });
  afterEach(() => {
    stderr = "";
    stdout = "";
  });
  afterAll(() => vi.restoreAllMocks());

  it.each([["--bogus"], ["--port-run", "http"], ["--port-logging", "70000"], ["--image", "nocommand"], ["stray"], ["--project-number", "12a"], ["--chaos-reclaims-per-minute", "1"]])(
    "exits 2 with usage for %s",
    async (...argv) => {
      stderr = "";
      expect(await runEmulatorsCommand(argv)).toBe(2);
      expect(stderr).toMatch(/usage: bigmachine emulators/);
      expect(process.listenerCount("SIGINT")).toBe(0);
    },
  );

  it("prints help to stdout with exit 0", async () => {
    stdout = "";
    expect(await runEmulatorsCommand(["--help"])).toBe(0);
    expect(stdout).toMatch(/--image IMAGE=COMMAND/);
  });
});

describe("startEmulators", () => {
  let emulators: Emulators;
  let metadataPort: number;

  beforeAll(async () => {
    metadataPort = await freePort();
    emulators = await startEmulators({ ports: { metadata: metadataPort } });
  });
  afterAll(() => emulators?.close());

  it("defaults the project from GOOGLE_CLOUD_PROJECT and the region to us-central1", () => {
    expect(emulators.projectId).toBe(process.env.GOOGLE_CLOUD_PROJECT);
    expect(emulators.projectNumber).toBe(projectNumberFor(emulators.projectId));
    expect(emulators.region).toBe("us-central1");
    expect(emulators.serviceAccountEmail).toBe(computeServiceAccount(emulators.projectNumber));
    expect(emulators.metadataEndpoint.port).toBe(metadataPort);
  });

  it("describes itself in env()", () => {
    expect(emulators.env()).toEqual({
      GOOGLE_CLOUD_PROJECT: emulators.projectId,
      CLOUD_RUN_EMULATOR_HOST: emulators.runEndpoint.hostPort,
      CLOUD_LOGGING_EMULATOR_HOST: emulators.loggingEndpoint.hostPort,
      GCE_METADATA_HOST: emulators.metadataEndpoint.hostPort,
      CLOUD_RUN_REGION: "us-central1",
    });
  });

  it("mints ID tokens at the driver metadata server that verify through certsUrl", async () => {
    const aud = "http://127.0.0.1:1";
    const res = await fetch(
      `${emulators.metadataEndpoint.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${aud}`,
      { headers: { "Metadata-Flavor": "Google" } },
    );
    const token = await res.text();
    const verifier = new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: emulators.certsUrl } });
    const ticket = await verifier.verifyIdToken({ idToken: token, audience: aud });
    expect(ticket.getPayload()?.email).toBe(emulators.serviceAccountEmail);
  });

  it("gives client options whose auth client never leaves the machine", async () => {
    const options = emulators.runClientOptions();
    expect(options).toMatchObject({ fallback: true, apiEndpoint: "127.0.0.1", port: emulators.runEndpoint.port, protocol: "http" });
    expect(emulators.loggingClientOptions().port).toBe(emulators.loggingEndpoint.port);
    const authClient = options.authClient as unknown as OAuth2Client;
    expect(authClient).toBeInstanceOf(OAuth2Client);
    const headers = await authClient.getRequestHeaders();
    const token = (headers.get("authorization") ?? "").replace(/^Bearer /, "");
    expect(emulators.issuer.verifyAccessToken(token)).toEqual({ ok: true, email: emulators.serviceAccountEmail });
    // Expired: the client mints a fresh token locally instead of asking Google.
    authClient.credentials.expiry_date = Date.now() - 1000;
    const refreshed = await authClient.getRequestHeaders();
    expect(emulators.issuer.verifyAccessToken((refreshed.get("authorization") ?? "").slice(7)).ok).toBe(true);
  });

  it("makes the driver a project-level invoker with a two-minute IAM delay by default", () => {
    expect(emulators.admin.iamPropagationDelayMs).toBe(120_000);
    expect(emulators.chaos).toBeUndefined();
    expect(emulators.logging).toMatchObject({ ingestionDelayMs: 1000, ingestionJitterMs: 2000, shortPageRate: 0.05 });
  });

  it("closes idempotently, releasing every port", async () => {
    const own = await startEmulators({ projectId: "closing" });
    await Promise.all([own.close(), own.close()]);
    await own.close();
    for (const endpoint of [own.runEndpoint, own.loggingEndpoint, own.metadataEndpoint]) {
      await expect(fetch(endpoint.url)).rejects.toThrow();
    }
  });
});

describe("a driver with only user credentials", () => {
  let emulators: Emulators;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    emulators = await startEmulators({ projectId: "user-creds", driverCredentials: "user" });
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(() => emulators?.close());

  it("gets an authorized_user credentials file and no metadata server in env()", () => {
    const env = emulators.env();
    expect(env).not.toHaveProperty("GCE_METADATA_HOST");
    expect(env).toMatchObject({ GOOGLE_CLOUD_PROJECT: "user-creds", METADATA_SERVER_DETECTION: "none" });
    expect(JSON.parse(readFileSync(env.GOOGLE_APPLICATION_CREDENTIALS!, "utf8"))).toMatchObject({ type: "authorized_user" });
    expect(emulators.serviceAccountEmail).toBe(DEFAULT_USER_EMAIL);
  });

  it("resolves google-auth-library's default credentials to user credentials, offline, with no metadata server", async () => {
    for (const name of ["GCE_METADATA_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "METADATA_SERVER_DETECTION", "GOOGLE_CLOUD_PROJECT"]) saved[name] = process.env[name];
    delete process.env.GCE_METADATA_HOST;
    Object.assign(process.env, emulators.env());
    const auth = new GoogleAuth();
    // A driver can tell, before any request, that it holds user credentials: these cannot be used to
    // mint ID tokens here (google-auth-library would ask Google's token endpoint for one).
    expect(await auth.getClient()).toBeInstanceOf(UserRefreshClient);
    expect(await auth._checkIsGCE()).toBe(false);
  });

  it("removes the credentials file on close", async () => {
    const own = await startEmulators({ projectId: "user-creds-2", driverCredentials: "user" });
    const file = own.env().GOOGLE_APPLICATION_CREDENTIALS!;
    expect(existsSync(file)).toBe(true);
    await own.close();
    expect(existsSync(file)).toBe(false);
  });
});
