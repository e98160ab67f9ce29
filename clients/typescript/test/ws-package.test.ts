import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ThrongClient, type ClosedEvent, type WebSocketConstructor } from "../src/index.js";

// Compile-time checks (run by `tsc -p tsconfig.test.json` in `npm test`): the browser's
// WebSocket and the `ws` package's class both fit the constructor option.
const fromBrowser: WebSocketConstructor | undefined = (globalThis as { WebSocket?: typeof globalThis.WebSocket })
  .WebSocket;
const fromWsPackage: WebSocketConstructor = WebSocket;
void fromBrowser;
void fromWsPackage;

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("with the ws package's WebSocket (Node 20)", () => {
  it("gives up after maxAttempts refused connections and says why", async () => {
    let opened = 0;
    class CountingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        opened += 1;
      }
    }
    const port = await closedPort();
    const client = new ThrongClient({
      url: `ws://127.0.0.1:${port}/v1/ws`,
      token: "t",
      WebSocket: CountingWebSocket,
      reconnect: { initialMs: 1, maxMs: 4, maxAttempts: 3 },
    });
    const closed = new Promise<ClosedEvent>((resolve) => client.on("closed", resolve));
    await expect(client.connect()).rejects.toMatchObject({ reason: "connect_failed" });
    const event = await closed;
    expect(opened).toBe(3);
    expect(event.code).toBe(1006);
    expect(event.reason).toContain("3 connection attempts in a row ended without a hello");
    expect(client.state).toBe("closed");
  });
});
