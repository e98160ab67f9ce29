import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Integration tests: the SDK against a real `throng serve` (binary from THRONG_BIN).
export default defineConfig({
  resolve: {
    // The README's web-app sample imports the package by its name; here that is the source.
    alias: { "@throng/client": fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/integration/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/integration/global-setup.ts"],
    // One file at a time: the machine is small and the server is shared.
    fileParallelism: false,
    // Waits inside the tests are bounded on their own (10 s each); these only catch a hang.
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
