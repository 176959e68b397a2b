// The region table: how the edge sees each region (`/_edge/status`: health,
// smoothed RTT, attempts, failures) and, with the local launcher's control
// API, each region's process and simulated network with the chaos buttons.

import { h, reconcile, setText } from "./dom.js";

/** One-way latencies offered for the edge -> region path, in ms. */
const LATENCY_CHOICES = [0, 10, 40, 80, 150, 300, 600, 1000];

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

const HEALTH_LABELS = { healthy: "healthy", ejected: "ejected", half_open: "re-testing" };

export function healthLabel(health, ejectedForMs) {
  const base = HEALTH_LABELS[health?.state] ?? "unknown";
  if (health?.state === "ejected" && typeof ejectedForMs === "number") return `${base} · back in ${Math.ceil(ejectedForMs / 1000)} s`;
  return base;
}

export function rttLabel(region) {
  if (typeof region?.srtt_ms !== "number") return "not measured yet";
  const spread = typeof region.rttvar_ms === "number" ? ` ± ${Math.round(region.rttvar_ms)}` : "";
  return `${Math.round(region.srtt_ms)} ms${spread}`;
}

function lastErrorLabel(region) {
  const recent = region?.recent_errors?.[0];
  if (!recent) return "";
  const what = recent.kind === "status" ? `HTTP ${recent.status}` : recent.kind;
  return `last error: ${what}${recent.probe ? " (probe)" : ""}, ${Math.round(recent.age_ms / 1000)} s ago`;
}

/**
 * `actions` (chaos mode only): `{ kill(id), restart(id), setLatency(id, ms), setFault(id, fault) }`,
 * each returning a promise.
 */
function regionCard(id, actions) {
  const name = h("span", { class: "region-name" }, id);
  const serving = h("span", { class: "badge serving", hidden: true }, "serving you");
  const health = h("span", { class: "badge health" });
  const rtt = h("span", { class: "metric", dataset: { testid: "rtt" } });
  const traffic = h("span", { class: "metric" });
  const lastError = h("div", { class: "region-error" });
  const element = h(
    "div",
    { class: "region", dataset: { region: id } },
    h("div", { class: "region-head" }, name, serving, h("span", { class: "spacer" }), health),
    h("div", { class: "region-metrics" }, rtt, traffic),
    lastError,
  );

  let chaos = null;
  if (actions) {
    const process = h("span", { class: "badge process" });
    const busy = (button, work) => async () => {
      button.disabled = true;
      element.classList.add("is-busy");
      try {
        await work();
      } finally {
        element.classList.remove("is-busy");
        button.disabled = false;
      }
    };
    const kill = h("button", { class: "chaos-button danger", dataset: { action: "kill" } }, "Kill");
    kill.addEventListener("click", busy(kill, () => actions.kill(id)));
    const restart = h("button", { class: "chaos-button", dataset: { action: "restart" } }, "Restart");
    restart.addEventListener("click", busy(restart, () => actions.restart(id)));
    const latency = h("select", {
      class: "latency",
      title: `One-way network delay between the edge and ${id}`,
      "aria-label": `One-way latency edge → ${id}`,
      dataset: { action: "latency" },
    });
    latency.addEventListener("change", () => actions.setLatency(id, Number(latency.value)));
    const blackHole = h("button", { class: "chaos-button", dataset: { action: "black-hole" } });
    blackHole.addEventListener("click", busy(blackHole, () => actions.setFault(id, blackHole.dataset.fault === "black_hole" ? "pass" : "black_hole")));
    element.append(h("div", { class: "region-chaos" }, process, kill, restart, latency, blackHole));

    chaos = (world) => {
      const state = world?.process?.state ?? "unknown";
      setText(process, state);
      process.dataset.state = state;
      const alive = state === "running" || state === "starting" || state === "paused";
      kill.hidden = !alive;
      restart.hidden = alive;
      const current = world?.edge?.latency_ms ?? 0;
      const choices = [...new Set([...LATENCY_CHOICES, current])].sort((a, b) => a - b);
      const key = choices.join(",");
      if (latency.dataset.choices !== key) {
        latency.dataset.choices = key;
        latency.replaceChildren(...choices.map((ms) => h("option", { value: String(ms) }, `+${ms} ms`)));
      }
      // Not while the user has the list open.
      if (document.activeElement !== latency) latency.value = String(current);
      const fault = world?.edge?.fault ?? "pass";
      blackHole.dataset.fault = fault;
      setText(blackHole, fault === "black_hole" ? "Restore network" : "Black-hole");
      element.classList.toggle("is-down", !alive || fault !== "pass");
    };
  }

  return {
    element,
    update({ edge, world, servingRegion }) {
      serving.hidden = servingRegion !== id;
      element.classList.toggle("is-serving", servingRegion === id);
      health.dataset.state = edge?.health?.state ?? "unknown";
      setText(health, edge ? healthLabel(edge.health, edge.ejected_for_ms) : "unknown");
      setText(rtt, `RTT ${rttLabel(edge)}`);
      setText(traffic, edge ? `${plural(edge.attempts, "request")} · ${edge.failures} failed` : "");
      setText(lastError, lastErrorLabel(edge));
      if (chaos) chaos(world);
    },
  };
}

/** Mounts the panel; returns `{ update({ edgeStatus, edgeError, world, servingRegion }) }`. */
export function mountRegionsPanel(container, { actions }) {
  const summary = h("p", { class: "panel-note", dataset: { testid: "edge-summary" } });
  const problem = h("p", { class: "panel-warning", hidden: true });
  const list = h("div", { class: "regions" });
  const cards = new Map();
  container.replaceChildren(
    h("h2", {}, "Regions", h("span", { class: "subtle" }, " as the edge sees them")),
    summary,
    problem,
    list,
    actions ? h("p", { class: "panel-note" }, "Chaos controls come from the local launcher (development only).") : null,
  );

  let lastEdge = null;
  return {
    update({ edgeStatus, edgeError, world, servingRegion }) {
      if (edgeStatus) lastEdge = edgeStatus;
      problem.hidden = !edgeError;
      setText(problem, edgeError ? `Edge status unavailable: ${edgeError}` : "");
      container.classList.toggle("is-stale", Boolean(edgeError));
      if (lastEdge) {
        const panic = lastEdge.panic ? " · PANIC: no healthy region, trying all" : "";
        setText(summary, `Policy “${lastEdge.policy}” · ${lastEdge.requests} requests · ${lastEdge.failovers} failovers${panic}`);
      }
      const ids = [...new Set([...(lastEdge?.regions ?? []).map((r) => r.id), ...(world?.regions ?? []).map((r) => r.id)])];
      const items = ids.map((id) => ({
        id,
        edge: lastEdge?.regions?.find((r) => r.id === id),
        world: world?.regions?.find((r) => r.id === id),
        servingRegion,
      }));
      reconcile(list, cards, items, (item) => item.id, (item) => regionCard(item.id, actions));
    },
  };
}
