/**
 * Runs the "Use it from a web app" sample of the repository's README.md against the real
 * server, so the sample cannot rot.
 *
 * The harness: every fenced `ts` block between `<!-- web-sample:start -->` and
 * `<!-- web-sample:end -->` is written, unchanged, to the file its first line names
 * (`// page.ts: ...`), in a fresh temporary directory. The files are type-checked with the
 * SDK's sources standing in for `@throng/client`, then imported. Only their surroundings
 * are substituted:
 * - `fetch` answers the page's relative `/api/...` URLs as the app's backend would:
 *   `/api/throng-session` with the server's WebSocket URL and a token minted for "ann",
 *   `/api/rooms/{room}/gifts` by calling the sample's own `publishGift`; absolute URLs go
 *   to the real `fetch` (that is how `publishGift` reaches the server API);
 * - `THRONG_API_URL` and `THRONG_API_KEY` are set for the backend file;
 * - `WebSocket` is the `ws` package's class (Node 20 has no global one).
 */

import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { closeAllClients, connectClient, createRoom, mintToken, server, uniqueRoom, waitFor } from "./harness.js";

const README = fileURLToPath(new URL("../../../../README.md", import.meta.url));
const SDK_ENTRY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
const NODE_TYPES = fileURLToPath(new URL("../../node_modules/@types", import.meta.url));
const START_MARKER = "<!-- web-sample:start -->";
const END_MARKER = "<!-- web-sample:end -->";

/** The sample's files, by name, exactly as README.md has them. */
export function extractWebSample(readme: string): Map<string, string> {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START_MARKER} ... ${END_MARKER} section`);
  const files = new Map<string, string>();
  for (const block of readme.slice(start, end).matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const code = block[1] as string;
    const name = /^\/\/ ([\w-]+\.ts):/.exec(code)?.[1];
    if (name === undefined) throw new Error(`a sample block does not start with "// <file>.ts:": ${code.slice(0, 60)}`);
    files.set(name, code);
  }
  return files;
}

/** Type errors of the sample files, compiled as a browser bundler and Node would. */
function typeErrors(paths: string[]): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    typeRoots: [NODE_TYPES],
    types: ["node"],
    paths: { "@throng/client": [SDK_ENTRY] },
  };
  const program = ts.createProgram(paths, options);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

interface Sample {
  openLiveRoom(
    room: string,
    view: { showText(from: string, text: string): void; showGift(from: string, gift: string): void; showLikes(total: number): void },
  ): Promise<{ say(text: string): Promise<unknown>; like(): void; sendGift(gift: string): Promise<void>; leave(): void }>;
  publishGift(room: string, purchase: { id: string; user: string; gift: string }): Promise<{ seq: number; id: string }>;
}

let sampleDir: string;
let samplePaths: Map<string, string>;

beforeAll(async () => {
  sampleDir = await mkdtemp(join(tmpdir(), "throng-web-sample-"));
  samplePaths = new Map();
  for (const [name, code] of extractWebSample(await readFile(README, "utf8"))) {
    const path = join(sampleDir, name);
    await writeFile(path, code);
    samplePaths.set(name, path);
  }
});

afterAll(async () => {
  await rm(sampleDir, { recursive: true, force: true });
});

afterEach(() => {
  closeAllClients();
  vi.unstubAllGlobals();
  vi.unstubAllEnvs();
});

describe("README web-app sample", () => {
  it("has the page and the backend file, and both type-check against the SDK", () => {
    expect([...samplePaths.keys()].sort()).toEqual(["backend.ts", "page.ts"]);
    expect(typeErrors([...samplePaths.values()])).toEqual([]);
  });

  it("runs against the server: chat both ways, a gift once, likes summed", async () => {
    const { httpUrl, wsUrl, apiKey } = server();
    const room = uniqueRoom("web-sample");
    await createRoom(room);
    const page = (await import(pathToFileURL(samplePaths.get("page.ts") as string).href)) as Pick<Sample, "openLiveRoom">;
    const backend = (await import(pathToFileURL(samplePaths.get("backend.ts") as string).href)) as Pick<Sample, "publishGift">;

    const realFetch = globalThis.fetch;
    const gifts: { seq: number; id: string }[] = [];
    vi.stubEnv("THRONG_API_URL", httpUrl);
    vi.stubEnv("THRONG_API_KEY", apiKey);
    vi.stubGlobal("WebSocket", WebSocket);
    vi.stubGlobal("fetch", async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = String(input);
      if (!url.startsWith("/")) return realFetch(input, init);
      if (url === "/api/throng-session" && init?.method === "POST") {
        return Response.json({ url: wsUrl, token: await mintToken("ann") });
      }
      const giftRoute = /^\/api\/rooms\/([^/]+)\/gifts$/.exec(url);
      if (giftRoute !== null && init?.method === "POST") {
        const { gift } = JSON.parse(String(init.body)) as { gift: string };
        const purchase = { id: randomUUID(), user: "ann", gift };
        gifts.push(await backend.publishGift(decodeURIComponent(giftRoute[1] as string), purchase));
        return new Response(null, { status: 201 });
      }
      return new Response("not found", { status: 404 });
    });

    const shown = { texts: [] as string[], gifts: [] as string[], likes: [] as number[] };
    const view = {
      showText: (from: string, text: string) => shown.texts.push(`${from}: ${text}`),
      showGift: (from: string, gift: string) => shown.gifts.push(`${from}: ${gift}`),
      showLikes: (total: number) => shown.likes.push(total),
    };
    const live = await page.openLiveRoom(room, view);
    const bob = await connectClient("bob");
    await bob.client.join(room);

    await live.say("hello from the page");
    await bob.client.send(room, "text", { text: "hi page" });
    await waitFor("the page to show both texts", () => shown.texts.length >= 2);
    expect(shown.texts).toEqual(["ann: hello from the page", "bob: hi page"]);
    await waitFor("bob to see the page's text", () => bob.messages(room).some((m) => m.from === "ann"));

    await live.sendGift("rose");
    expect(gifts).toHaveLength(1);
    await waitFor("the page to show the gift", () => shown.gifts.length >= 1);
    await waitFor("bob to see the gift", () => bob.messages(room).some((m) => m.kind === "gift"));
    expect(bob.messages(room).filter((m) => m.kind === "gift")).toMatchObject([
      { seq: gifts[0]?.seq, id: gifts[0]?.id, from: "@server", body: { from: "ann", gift: "rose" } },
    ]);

    for (let tap = 0; tap < 3; tap++) live.like();
    await waitFor("the page to show 3 likes", () => shown.likes.at(-1) === 3);
    // Shown once although the server carries a gift until acknowledged.
    expect(shown.gifts).toEqual(["ann: rose"]);
    live.leave();
  });
});
