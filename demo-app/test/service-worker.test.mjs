import assert from "node:assert/strict";
import { test } from "node:test";
import { buildVersion, precacheList } from "../sw/plugin.js";

test("the precache holds the page, its bundles and named extras, once each", () => {
  const files = ["index.html", "assets/index-abc.js", "assets/index-def.css", "assets/edgesync_bg-123.wasm", "sw.js", "_headers"];
  assert.deepEqual(precacheList(files, ["/favicon.svg"]), [
    "/",
    "/assets/edgesync_bg-123.wasm",
    "/assets/index-abc.js",
    "/assets/index-def.css",
    "/favicon.svg",
  ]);
  assert.deepEqual(precacheList([]), ["/"]);
});

test("a build with other files gets another version (old caches are dropped)", () => {
  const one = buildVersion(precacheList(["assets/a-1.js"]));
  assert.equal(one, buildVersion(precacheList(["assets/a-1.js"])));
  assert.notEqual(one, buildVersion(precacheList(["assets/a-2.js"])));
});
