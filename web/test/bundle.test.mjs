// The demo files the server embeds are committed; they must equal a fresh build of
// web/src (and of the SDK it bundles), or the binary would serve something else than
// the sources say.
import { it } from "node:test";
import assert from "node:assert/strict";
import { staleFiles } from "../build.mjs";

it("the committed demo files equal a fresh build", async () => {
  assert.deepEqual(await staleFiles(), [], "run `npm run build` in web/ and commit crates/throng-server/web/");
});
