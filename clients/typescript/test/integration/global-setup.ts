/**
 * Vitest global setup of the integration tests: one `throng serve` for every test file,
 * stopped when they are done. Tests use their own rooms and users, so they do not meet.
 */

import { startServer, throngBin, type ThrongServerInfo } from "./server.js";

declare module "vitest" {
  export interface ProvidedContext {
    throng: ThrongServerInfo;
  }
}

/**
 * The part of Vitest's `TestProject` used here (its own type comes from `vitest/node`,
 * whose declarations need packages the type check does not install).
 */
interface ProvidingProject {
  provide<K extends "throng">(key: K, value: ThrongServerInfo): void;
}

export default async function setup(project: ProvidingProject): Promise<() => Promise<void>> {
  const server = await startServer(throngBin());
  project.provide("throng", server.info);
  return () => server.stop();
}
