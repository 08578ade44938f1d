import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // integration tests start real nats-server and node processes; two cores here
    maxWorkers: 2,
    reporters: ["default"],
  },
});
