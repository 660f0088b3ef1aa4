import { defineConfig } from "vitest/config";

// `npm run test:cloud`: against real Google, so no guard, one file at a time and long timeouts (cold
// starts, deploys, IAM). `npm test` never includes these files (they end in `.cloud.ts`).
export default defineConfig({
  test: {
    include: ["test/cloud/**/*.cloud.ts"],
    testTimeout: 15 * 60_000,
    hookTimeout: 15 * 60_000,
    maxWorkers: 1,
    pool: "forks",
  },
});
