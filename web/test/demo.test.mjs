// The demo page in real headless Chromium against a real server: each test starts its
// own server (a fresh demo room) and opens one or two pages, each a different viewer.
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  PATIENCE_MS,
  api,
  chatTexts,
  launchBrowser,
  openDemo,
  publish,
  screenshot,
  startServer,
  waitUntil,
} from "./harness.mjs";

describe("the demo page", () => {
  let browser;
  let server;
  let pages;

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    server = await startServer();
    pages = [];
  });
  afterEach(async (test) => {
    // Every page is saved, passed or failed, so a failure can be looked at.
    for (const [index, page] of pages.entries()) {
      const name = `${test.name.replaceAll(/[^a-z0-9]+/gi, "-")}-${index + 1}`;
      await screenshot(page, name).catch(() => {});
      assert.deepEqual(page.problems, [], `${name}: uncaught errors on the page`);
      await page.context().close();
    }
    await server.stop();
  });

  const open = async (user) => {
    const page = await openDemo(browser, server, user);
    pages.push(page);
    return page;
  };

  const say = async (page, text) => {
    await page.fill("#say", text);
    await page.press("#say", "Enter");
  };

  const waitForChat = (page, text) =>
    page.waitForFunction(
      (wanted) => [...document.querySelectorAll("#chat li")].some((row) => row.textContent?.includes(wanted)),
      text,
      { timeout: PATIENCE_MS },
    );

  it("shows two viewers each other's messages", async () => {
    const ann = await open("ann");
    const bob = await open("bob");
    await say(ann, "hello from ann");
    await say(bob, "hello from bob");
    for (const page of [ann, bob]) {
      await waitForChat(page, "hello from ann");
      await waitForChat(page, "hello from bob");
    }
    const rows = await chatTexts(bob);
    assert.ok(rows.includes("ann hello from ann"), JSON.stringify(rows));
    assert.ok(rows.includes("bob hello from bob"), JSON.stringify(rows));
    // The server's presence notices and live statistics reach the page too.
    await ann.waitForFunction(() => document.getElementById("feed")?.textContent?.includes("bob joined"), null, {
      timeout: PATIENCE_MS,
    });
    await ann.waitForFunction(() => document.getElementById("online")?.textContent === "2", null, {
      timeout: PATIENCE_MS,
    });
  });

  it("shows a gift from the gift button once on every page", async () => {
    const ann = await open("ann");
    const bob = await open("bob");
    await ann.click("#gift");
    const gifts = (page) => page.$$eval("#feed li.gift", (rows) => rows.map((row) => row.textContent));
    for (const page of [ann, bob]) {
      await page.waitForSelector("#feed li.gift", { timeout: PATIENCE_MS });
    }
    // A later message in the same lane marks that anything carried again has arrived.
    await publish(server, { kind: "notice", body: { text: "after the gift" } });
    for (const page of [ann, bob]) {
      await waitForChat(page, "after the gift");
      assert.deepEqual(await gifts(page), ["ann sent a rocket"]);
    }
  });

  it("shows a gift sent through the server API exactly once", async () => {
    const ann = await open("ann");
    const gift = { kind: "gift", body: { gift: "a golden rocket" }, reliable: true, msg_id: "api-gift-1" };
    const first = await publish(server, gift);
    const again = await publish(server, gift);
    assert.equal(again.seq, first.seq, "the same msg_id is the same message");
    const giftRows = `#feed li[data-gift-id="${first.id}"]`;
    await ann.waitForSelector(giftRows, { timeout: PATIENCE_MS });
    // A resume may carry the gift again; it must still be shown once.
    await ann.evaluate(() => window.throngDemo.cutConnection());
    await ann.waitForSelector('body[data-state="live"]', { timeout: PATIENCE_MS });
    await publish(server, { kind: "text", body: { text: "after the gift" }, priority: "high" });
    await waitForChat(ann, "after the gift");
    assert.equal(await ann.locator(giftRows).count(), 1);
    assert.match(await ann.locator(giftRows).textContent(), /a golden rocket/);
  });

  it("adds up the like taps of two viewers", async () => {
    const ann = await open("ann");
    const bob = await open("bob");
    for (let i = 0; i < 30; i++) await ann.click("#like");
    for (let i = 0; i < 20; i++) await bob.click("#like");
    for (const page of [ann, bob]) {
      await page.waitForFunction(() => document.getElementById("like-count")?.dataset.value === "50", null, {
        timeout: PATIENCE_MS,
      });
    }
    assert.equal(await ann.textContent("#taps"), "30");
    assert.equal(await bob.textContent("#taps"), "20");
  });

  it("reconnects after its connection is cut and shows what it missed", async () => {
    const ann = await open("ann");
    // Hold the token request of the reconnect until the missed messages are published,
    // so they are certainly published while the page is away.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await ann.route("**/demo/token?*", async (route) => {
      await held;
      await route.continue();
    });
    await ann.evaluate(() => window.throngDemo.cutConnection());
    await ann.waitForSelector('body[data-state="reconnecting"]', { timeout: PATIENCE_MS });
    for (let i = 1; i <= 5; i++) {
      await publish(server, { kind: "text", body: { text: `missed ${i}` }, priority: "high" });
    }
    release();
    await ann.waitForSelector('body[data-state="live"]', { timeout: PATIENCE_MS });
    for (let i = 1; i <= 5; i++) await waitForChat(ann, `missed ${i}`);
    const missed = (await chatTexts(ann)).filter((row) => row.includes("missed "));
    assert.deepEqual(missed, [1, 2, 3, 4, 5].map((i) => `@server missed ${i}`), "each once, in order");
  });

  it("shows a moderator's kick to the kicked viewer", async () => {
    const bob = await open("bob");
    const { status, body } = await api(server, "POST", "/v1/rooms/demo/kick/bob", { reason: "testing kicks" });
    assert.equal(status, 204, JSON.stringify(body));
    await bob.waitForSelector('body[data-state="out"]', { timeout: PATIENCE_MS });
    const events = await bob.$$eval("#feed li.moderation", (rows) => rows.map((row) => row.textContent));
    assert.ok(
      events.some((text) => text.includes("kick") && text.includes("testing kicks")),
      JSON.stringify(events),
    );
    assert.ok(events.some((text) => text.includes("kicked")), JSON.stringify(events));
    // A kicked viewer may come back.
    await bob.click("#rejoin");
    await bob.waitForSelector('body[data-state="live"]', { timeout: PATIENCE_MS });
  });

  it("stays responsive and bounded at 400 messages per second", async () => {
    const ann = await open("ann");
    const rate = 400;
    const seconds = 4;
    const total = rate * seconds;
    let published = 0;
    // Publishes `total` messages at about `rate` per second, a few in flight at once.
    const flood = (async () => {
      const started = Date.now();
      while (published < total) {
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
        const burst = [];
        for (; published < due; published++) {
          burst.push(publish(server, { kind: "text", body: { text: `flood ${published + 1}` }, priority: "high" }));
        }
        await Promise.all(burst);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const progress = () => ann.evaluate(() => ({ frames: window.throngDemo.frames, rows: window.throngDemo.chatRendered }));
    const start = await progress();
    // Mid-flood: the page keeps drawing and rendering rows, and a click is handled.
    await waitUntil(async () => published > total / 4, "a quarter of the flood published");
    await ann.click("#like");
    await ann.waitForFunction(() => document.getElementById("taps")?.textContent === "1", null, { timeout: 10_000 });
    const middle = await progress();
    assert.ok(middle.frames > start.frames, `frames ${start.frames} -> ${middle.frames}`);
    assert.ok(middle.rows > start.rows, `rows ${start.rows} -> ${middle.rows}`);
    await flood;

    await waitForChat(ann, `flood ${total}`);
    const rows = await ann.locator("#chat li").count();
    assert.ok(rows <= 200, `the chat list holds ${rows} rows`);
    assert.ok(rows >= 100, `the chat list holds ${rows} rows`);
    const danmaku = await ann.locator("#danmaku .danmaku").count();
    assert.ok(danmaku <= 40, `${danmaku} danmaku on screen at once`);
  });
});
