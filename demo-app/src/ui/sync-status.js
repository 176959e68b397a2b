// What the page tells the user about sync: a one-line summary for the top bar
// and the details panel (region, unsynced changes, last sync, network).

import { h, setText } from "./dom.js";

/** The summary of an SDK SyncStatus: `{ state, label, detail }`. */
export function summarize(status, { simulatedOffline = false } = {}) {
  const pending = status.pendingChanges;
  const changes = `${pending} change${pending === 1 ? "" : "s"}`;
  if (!status.online) {
    return {
      state: "offline",
      label: simulatedOffline ? "Offline (simulated)" : "Offline",
      detail: pending ? `${changes} saved on this device, sent when back online` : "Everything was synced before going offline",
    };
  }
  if (status.lastError) {
    return {
      state: "retrying",
      label: pending ? `Retrying · ${changes} waiting` : "Retrying",
      detail: `${status.lastError.message} (${status.lastError.code})`,
    };
  }
  if (pending > 0) return { state: "pending", label: `Saving ${changes}…`, detail: "Saved on this device; syncing" };
  if (status.syncing) return { state: "syncing", label: "Syncing…", detail: "" };
  if (status.lastSyncAt === null) return { state: "pending", label: "Connecting…", detail: "Not synced yet" };
  return { state: "synced", label: status.region ? `Synced via ${status.region}` : "Synced", detail: "Every change is durable in a region" };
}

export function ago(timestamp, now = Date.now()) {
  if (timestamp === null || timestamp === undefined) return "never";
  const seconds = Math.max(0, Math.round((now - timestamp) / 1000));
  if (seconds < 2) return "just now";
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min ago` : `${Math.round(minutes / 60)} h ago`;
}

/** The status pill of the top bar. */
export function mountPill(element) {
  const dot = h("span", { class: "dot" });
  const label = h("span", { class: "pill-label" });
  element.replaceChildren(dot, label);
  return (status, options) => {
    const summary = summarize(status, options);
    element.dataset.state = summary.state;
    element.title = summary.detail;
    setText(label, summary.label);
  };
}

function row(name, value) {
  return h("div", { class: "kv" }, h("dt", {}, name), h("dd", {}, value));
}

/**
 * The "This page" panel. `offlineToggle` (chaos mode only) is
 * `{ isOffline(), set(offline) }`.
 */
export function mountSyncPanel(container, { offlineToggle }) {
  const state = h("span", { class: "state-chip", dataset: { testid: "sync-state" } });
  const region = h("strong", { dataset: { testid: "served-by" } });
  const pending = h("strong", { dataset: { testid: "pending" } });
  const lastSync = h("span", { dataset: { testid: "last-sync" } });
  const network = h("span", { dataset: { testid: "network" } });
  const offlineReady = h("span", { dataset: { testid: "offline-ready" } }, "not yet");
  const detail = h("p", { class: "panel-note" });
  const toggle = offlineToggle
    ? h("button", { class: "chaos-button", dataset: { testid: "toggle-offline" }, onclick: () => offlineToggle.set(!offlineToggle.isOffline()) })
    : null;
  container.replaceChildren(
    h("h2", {}, "This page"),
    h(
      "dl",
      { class: "kv-list" },
      row("Sync", state),
      row("Served by", region),
      row("Unsynced changes", pending),
      row("Last sync", lastSync),
      row("Network", h("span", { class: "with-action" }, network, toggle)),
      row("Loads offline", offlineReady),
    ),
    detail,
  );

  let last = null;
  let lastOptions = {};
  function render() {
    if (!last) return;
    const summary = summarize(last, lastOptions);
    state.dataset.state = summary.state;
    setText(state, summary.label);
    setText(region, last.region ?? "—");
    setText(pending, last.pendingChanges);
    setText(lastSync, ago(last.lastSyncAt));
    setText(network, last.online ? "online" : lastOptions.simulatedOffline ? "offline (simulated)" : "offline");
    setText(detail, summary.detail);
    if (toggle) {
      const simulated = offlineToggle.isOffline();
      setText(toggle, simulated ? "Go online" : "Go offline");
      // Really offline: there is nothing to switch off.
      toggle.disabled = !simulated && !last.online;
      toggle.title = toggle.disabled ? "The browser itself is offline" : "Cut this page off the network, as if it were gone";
    }
  }
  // "3 s ago" must keep counting between status changes.
  setInterval(render, 1000);

  return {
    update(status, options = {}) {
      last = status;
      lastOptions = options;
      render();
    },
    setOfflineReady(ready) {
      setText(offlineReady, ready ? "yes (service worker)" : "not yet");
      offlineReady.dataset.ready = String(ready);
    },
  };
}
