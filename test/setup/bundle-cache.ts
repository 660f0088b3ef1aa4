/**
 * Global setup: one bundle cache folder for the whole run, so the suite neither reads nor fills the
 * user's own cache, and test files that run the same fixture program share its bundle. Removed at the
 * end of the run. A cache folder given in the environment is used as is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CACHE_ENV = "BIGMACHINE_CACHE_DIR";

export default function setup(): () => void {
  if (process.env[CACHE_ENV]) return () => {};
  const dir = mkdtempSync(join(tmpdir(), "bigmachine-test-bundles-"));
  process.env[CACHE_ENV] = dir;
  return () => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env[CACHE_ENV];
  };
}
