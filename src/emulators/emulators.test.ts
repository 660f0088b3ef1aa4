import { createServer } from "node:net";
import { OAuth2Client } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parseImageFlags, runEmulatorsCommand } from "./cli.ts";
import { computeServiceAccount, projectNumberFor, startEmulators, type Emulators } from "./index.ts";

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

  it.each([["--bogus"], ["--port-run", "http"], ["--port-logging", "70000"], ["--image", "nocommand"], ["stray"], ["--project-number", "12a"]])(
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

  it("closes idempotently, releasing every port", async () => {
    const own = await startEmulators({ projectId: "closing" });
    await Promise.all([own.close(), own.close()]);
    await own.close();
    for (const endpoint of [own.runEndpoint, own.loggingEndpoint, own.metadataEndpoint]) {
      await expect(fetch(endpoint.url)).rejects.toThrow();
    }
  });
});
