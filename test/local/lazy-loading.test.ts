/**
 * Choosing the local system loads no Google client library: the Cloud Run System's driver side is
 * loaded only when `cloudrun` is chosen.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { fixture, SHORT_KEEPALIVE, TSX } from "./helpers.ts";

const run = promisify(execFile);

async function googleModulesLoaded(args: string[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, [...TSX, fixture("loaded-modules.ts"), ...args], {
    env: { ...process.env, BIGMACHINE_KEEPALIVE_TIMEOUT_MS: String(SHORT_KEEPALIVE.timeoutMs) },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
}

describe("lazy loading", () => {
  it("loads no Google client when the local system is chosen", async () => {
    expect(await googleModulesLoaded([])).toEqual([]);
  });

  it("would see one that was loaded", async () => {
    expect(await googleModulesLoaded(["--load-run"])).toContain("@google-cloud/run");
  });
});
