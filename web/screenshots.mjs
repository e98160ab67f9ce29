// Takes the README's pictures of the demo: docs/demo.png (one viewer's page in a busy
// room) and docs/demo-two-tabs.png (two viewers side by side). Runs the same server and
// browser as the tests:  THRONG_BIN=... node screenshots.mjs
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchBrowser, openDemo, publish, startServer, waitUntil } from "./test/harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const docs = path.resolve(here, "../docs");

const lines = [
  ["ann", "first time here, hi all"],
  ["bob", "the stream looks great today"],
  ["cleo", "hello from the back row"],
  ["ann", "how many are watching?"],
  ["dan", "check the online count up top"],
  ["cleo", "that intro was amazing"],
  ["bob", "sending a rocket"],
  ["dan", "same here"],
];

const server = await startServer();
const browser = await launchBrowser();
try {
  const pages = {};
  for (const user of ["cleo", "dan", "bob", "ann"]) pages[user] = await openDemo(browser, server, user);
  const { ann, bob } = pages;
  await publish(server, { kind: "notice", body: { text: "the show starts in 5 minutes" } });
  await bob.click("#gift");
  for (let i = 0; i < 25; i++) await ann.click("#like");
  for (let i = 0; i < 15; i++) await bob.click("#like");
  await waitUntil(
    async () => (await ann.textContent("#feed")).includes("bob sent"),
    "the gift reaches ann",
  );
  // The chat last, so that its danmaku are still crossing the video.
  for (const [user, text] of lines) {
    await pages[user].fill("#say", text);
    await pages[user].press("#say", "Enter");
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await ann.screenshot({ path: path.join(docs, "demo.png") });

  const both = await (await browser.newContext({ viewport: { width: 1920, height: 720 } })).newPage();
  await both.setContent(
    `<body style="margin:0;display:flex;background:#000">` +
      `<iframe src="${server.url}/?user=carol" style="width:960px;height:720px;border:0;border-right:2px solid #444"></iframe>` +
      `<iframe src="${server.url}/?user=dave" style="width:958px;height:720px;border:0"></iframe></body>`,
  );
  await waitUntil(async () => {
    const states = await Promise.all(
      both.frames().slice(1).map((frame) => frame.evaluate(() => document.body.dataset.state).catch(() => "")),
    );
    return states.length === 2 && states.every((state) => state === "live");
  }, "both tabs live");
  const [carol, dave] = both.frames().slice(1);
  for (const [frame, text] of [[carol, "carol here, in the left tab"], [dave, "dave here, in the right tab"], [carol, "I can see you, dave"]]) {
    await frame.fill("#say", text);
    await frame.press("#say", "Enter");
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await both.screenshot({ path: path.join(docs, "demo-two-tabs.png") });
  console.log(`wrote ${path.join(docs, "demo.png")} and demo-two-tabs.png`);
} finally {
  await browser.close();
  await server.stop();
}
