import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Those need a server binary: `npm run test:integration` runs them.
    exclude: ["test/integration/**", "**/node_modules/**"],
    environment: "node",
  },
});
