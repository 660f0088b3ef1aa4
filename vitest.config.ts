import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    setupFiles: ["test/setup/no-google.ts"],
    globalSetup: ["test/setup/bundle-cache.ts"],
    testTimeout: 30_000,
    // Hooks start emulators and cold-start machines: on two busy cores that can take a while.
    hookTimeout: 90_000,
    // Process-spawning suites compete for 2 cores; a few files at a time keeps them honest.
    maxWorkers: 2,
    pool: "forks",
  },
});
