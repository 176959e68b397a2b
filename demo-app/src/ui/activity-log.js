// A short, newest-first log of what happened: region switches, outages, chaos
// actions, sync catching up. It is what makes failover visible to a newcomer.

import { h } from "./dom.js";

const MAX_ENTRIES = 40;

function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/**
 * Returns `log(kind, text, { topic })`; kind is "info", "good", "warn" or
 * "chaos". A line with the same `topic` as the newest one replaces it and
 * counts the repeats, so a burst (the edge trying regions in turn) stays one line.
 */
export function mountActivityLog(container) {
  const list = h("ol", { class: "activity", dataset: { testid: "activity" } });
  container.replaceChildren(h("h2", {}, "Activity"), list);
  return function log(kind, text, { topic } = {}) {
    const newest = list.firstElementChild;
    let repeats = 1;
    if (topic && newest && newest.dataset.topic === topic) {
      repeats = Number(newest.dataset.repeats) + 1;
      newest.remove();
    }
    const suffix = repeats > 1 ? h("span", { class: "repeats" }, ` ×${repeats}`) : null;
    const entry = h("li", { class: `activity-${kind}` }, h("time", {}, clock(new Date())), h("span", {}, text, suffix));
    if (topic) Object.assign(entry.dataset, { topic, repeats: String(repeats) });
    list.prepend(entry);
    while (list.children.length > MAX_ENTRIES) list.lastElementChild.remove();
  };
}

/**
 * Turns consecutive sync statuses into log lines: a new serving region, going
 * offline and back, errors, and unsynced changes reaching a region.
 */
export function statusNarrator(log) {
  let previous = null;
  let backlog = 0;
  return (status) => {
    const before = previous;
    previous = status;
    if (!before) return;
    if (before.online && !status.online) log("warn", "Offline: changes are kept on this device");
    if (!before.online && status.online) log("good", "Back online: syncing");
    if (status.region && before.region && status.region !== before.region) {
      log("warn", `Now served by ${status.region} (was ${before.region})`, { topic: "region-switch" });
    }
    if (status.region && !before.region) log("good", `Served by ${status.region}`);
    if (status.lastError && !before.lastError) log("warn", `Sync problem, retrying: ${status.lastError.message}`);
    // Changes that piled up during an outage: say when they have all landed.
    if ((!status.online || status.lastError) && status.pendingChanges > 0) backlog = Math.max(backlog, status.pendingChanges);
    if (backlog && status.pendingChanges === 0 && status.online && !status.lastError) {
      log("good", `Caught up: changes made meanwhile are durable in ${status.region ?? "a region"}`);
      backlog = 0;
    }
  };
}
