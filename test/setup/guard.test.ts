import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("google guard", () => {
  it("fails a lookup of a Google host in the test process", async () => {
    await expect(fetch("https://run.googleapis.com/v2/projects")).rejects.toThrow();
    const dns = await import("node:dns");
    await expect(dns.promises.lookup("logging.googleapis.com")).rejects.toThrow(/must not contact Google/);
  });

  it("is preloaded into child processes", () => {
    const out = execFileSync(process.execPath, [
      "-e",
      "require('node:dns').lookup('metadata.google.internal', (e) => console.log(e ? e.message : 'resolved'))",
    ]).toString();
    expect(out).toMatch(/must not contact Google/);
  });

  it("sets a project id and no credentials", () => {
    expect(process.env.GOOGLE_CLOUD_PROJECT).toBeTruthy();
    expect(process.env.GOOGLE_APPLICATION_CREDENTIALS).toMatch(/nonexistent/);
  });
});
