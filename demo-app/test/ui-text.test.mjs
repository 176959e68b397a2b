import assert from "node:assert/strict";
import { test } from "node:test";
import { controlUrlFrom } from "../src/net/control-url.js";
import { healthLabel, rttLabel } from "../src/ui/regions-panel.js";
import { ago, summarize } from "../src/ui/sync-status.js";

const base = { online: true, syncing: false, pendingChanges: 0, lastSyncAt: 1000, region: "us-east", lastError: null };

test("the sync summary puts offline first, then errors, then unsynced changes", () => {
  assert.deepEqual(summarize(base).label, "Synced via us-east");
  assert.equal(summarize({ ...base, pendingChanges: 3 }).label, "Saving 3 changes…");
  assert.equal(summarize({ ...base, syncing: true }).state, "syncing");
  assert.equal(summarize({ ...base, lastSyncAt: null }).label, "Connecting…");
  const error = { code: "network", message: "no route" };
  assert.equal(summarize({ ...base, lastError: error, pendingChanges: 1 }).label, "Retrying · 1 change waiting");
  const offline = summarize({ ...base, online: false, lastError: error, pendingChanges: 2 });
  assert.equal(offline.state, "offline");
  assert.match(offline.detail, /2 changes saved on this device/);
  assert.equal(summarize({ ...base, online: false }, { simulatedOffline: true }).label, "Offline (simulated)");
});

test("ages read like a person would say them", () => {
  assert.equal(ago(null), "never");
  assert.equal(ago(10_000, 10_500), "just now");
  assert.equal(ago(0, 42_000), "42 s ago");
  assert.equal(ago(0, 5 * 60_000), "5 min ago");
});

test("region health and RTT labels", () => {
  assert.equal(healthLabel({ state: "healthy" }), "healthy");
  assert.equal(healthLabel({ state: "ejected", until: 5 }, 2100), "ejected · back in 3 s");
  assert.equal(healthLabel({ state: "half_open" }), "re-testing");
  assert.equal(healthLabel(undefined), "unknown");
  assert.equal(rttLabel({ srtt_ms: 21.4, rttvar_ms: 3.6 }), "21 ms ± 4");
  assert.equal(rttLabel({ srtt_ms: null }), "not measured yet");
});

test("chaos controls only ever talk to a loopback control API", () => {
  assert.equal(controlUrlFrom("?control=http://127.0.0.1:8790"), "http://127.0.0.1:8790");
  assert.equal(controlUrlFrom("?control=http%3A%2F%2Flocalhost%3A9%2Fcontrol"), "http://localhost:9");
  assert.equal(controlUrlFrom("?control=http://[::1]:8790"), "http://[::1]:8790");
  for (const bad of ["", "?control=", "?control=https://127.0.0.1:1", "?control=http://evil.example", "?control=http://127.0.0.1.evil.example", "?control=javascript:alert(1)"]) {
    assert.equal(controlUrlFrom(bad), null, bad);
  }
});
