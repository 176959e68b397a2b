// The demo page: a shared board synced by the EdgeSync SDK through the edge,
// with the live sync status, the edge's region table and (development only)
// chaos controls from the local-world launcher.

// First: the SDK must see the page's network through the offline switch.
import { isSimulatedOffline, onSimulatedOfflineChange, setSimulatedOffline } from "./net/offline.js";
import { Repo } from "edgesync";
import { Board, isBoardId, isLoaded, newBoardId, seedBoard } from "./board/model.js";
import { mountBoard } from "./board/view.js";
import { devTokenProvider } from "./net/auth.js";
import { ControlClient, controlUrlFrom } from "./net/control.js";
import { fetchEdgeStatus } from "./net/edge-status.js";
import { startPolling } from "./net/poller.js";
import { mountActivityLog, statusNarrator } from "./ui/activity-log.js";
import { h } from "./ui/dom.js";
import { mountRegionsPanel } from "./ui/regions-panel.js";
import { mountPill, mountSyncPanel } from "./ui/sync-status.js";
import { bindText } from "./ui/text-binding.js";
import "./styles.css";

const REPO_NAME = "edgesync-demo";
const LAST_BOARD_KEY = "edgesync-demo:last-board";
const USER_KEY = "edgesync-demo:user";
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);

function remembered(key, make) {
  try {
    const value = localStorage.getItem(key);
    if (value) return value;
    const fresh = make();
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    return make();
  }
}

function rememberBoard(id) {
  try {
    localStorage.setItem(LAST_BOARD_KEY, id);
  } catch {
    // Without storage the URL still names the board.
  }
}

/** The page URL for `boardId`, keeping the other parameters (the control URL). */
function boardUrl(boardId) {
  const url = new URL(location.href);
  url.searchParams.set("board", boardId);
  return url;
}

function fatal(error) {
  console.error(error);
  document.body.dataset.board = "failed";
  $("board").replaceChildren(
    h(
      "div",
      { class: "fatal" },
      h("h2", {}, "The board could not start"),
      h("p", {}, String(error?.message ?? error)),
      h("p", { class: "subtle" }, "This page needs IndexedDB and WebAssembly (a current browser, not a private window with storage disabled)."),
    ),
  );
}

function registerServiceWorker(onReady, log) {
  if (!("serviceWorker" in navigator) || !import.meta.env.PROD) return;
  navigator.serviceWorker.register("/sw.js").catch((error) => log("warn", `No offline start: ${error.message}`));
  navigator.serviceWorker.ready.then(() => onReady(true));
}

async function openBoard(repo) {
  const fromUrl = new URLSearchParams(location.search).get("board");
  let id = isBoardId(fromUrl) ? fromUrl : null;
  if (!id) {
    try {
      const last = localStorage.getItem(LAST_BOARD_KEY);
      if (isBoardId(last)) id = last;
    } catch {
      // No storage: start a new board.
    }
  }
  // A board this device has never seen opens empty and fills from the region.
  const handle = id ? await repo.find(id) : repo.create(seedBoard(), { id: newBoardId() });
  rememberBoard(handle.id);
  history.replaceState(null, "", boardUrl(handle.id));
  return handle;
}

function mountHeader(board, repo, log) {
  const title = $("board-title");
  const updateTitle = bindText(title, "", (edit) => board.spliceText({ kind: "title" }, edit));

  $("copy-link").addEventListener("click", async () => {
    const button = $("copy-link");
    try {
      await navigator.clipboard.writeText(boardUrl(board.id).href);
      button.textContent = "Link copied";
    } catch {
      prompt("Open this link in another window:", boardUrl(board.id).href);
    }
    setTimeout(() => (button.textContent = "Copy link"), 1500);
  });

  $("new-board").addEventListener("click", async () => {
    const handle = repo.create(seedBoard(), { id: newBoardId() });
    await repo.flush();
    log("info", `Created board ${handle.id}`);
    location.assign(boardUrl(handle.id));
  });

  return (value) => {
    updateTitle(typeof value.title === "string" ? value.title : "");
    document.title = `${value.title || "Untitled board"} · EdgeSync`;
  };
}

function chaosActions(control, log, refresh) {
  const run = async (what, work, done) => {
    log("chaos", what);
    try {
      await work();
      if (done) log("chaos", done);
    } catch (error) {
      log("warn", `${what} failed: ${error.message}`);
    } finally {
      refresh();
    }
  };
  return {
    kill: (id) => run(`Killed region ${id}`, () => control.kill(id)),
    restart: (id) => run(`Restarting region ${id}…`, () => control.restart(id), `Region ${id} is back`),
    setLatency: (id, ms) => run(`Edge → ${id} latency set to ${ms} ms one way`, () => control.setLatency(id, ms)),
    setFault: (id, fault) =>
      run(fault === "black_hole" ? `Black-holed the edge's path to ${id}` : `Restored the edge's path to ${id}`, () => control.setFault(id, fault)),
  };
}

async function start() {
  const log = mountActivityLog($("activity-panel"));
  const controlUrl = controlUrlFrom(location.search);
  const control = controlUrl ? new ControlClient(controlUrl) : null;
  document.body.classList.toggle("has-chaos", Boolean(control));

  const offlineToggle = control ? { isOffline: isSimulatedOffline, set: setSimulatedOffline } : null;
  const syncPanel = mountSyncPanel($("sync-panel"), { offlineToggle });
  registerServiceWorker((ready) => syncPanel.setOfflineReady(ready), log);

  const repo = await Repo.open({
    name: REPO_NAME,
    endpoint: location.origin,
    token: devTokenProvider({ subject: remembered(USER_KEY, () => `user-${crypto.randomUUID().slice(0, 8)}`), scope: "board-*" }),
  });
  const handle = await openBoard(repo);
  const board = new Board(handle);
  log("info", `Opened board ${handle.id} (${REPO_NAME} in IndexedDB)`);

  // The board.
  const boardArea = $("board");
  const renderBoard = mountBoard(boardArea, board);
  const renderHeader = mountHeader(board, repo, log);
  const render = (value) => {
    const loaded = isLoaded(value);
    document.body.dataset.board = loaded ? "loaded" : "loading";
    $("board-loading").hidden = loaded;
    if (!loaded) return;
    renderHeader(value);
    renderBoard(value);
  };
  handle.subscribe((event) => render(event.value));
  render(handle.value());

  // Sync status: top bar, panel, activity log.
  const pill = mountPill($("sync-pill"));
  const narrate = statusNarrator(log);
  let servingRegion = null;
  let refreshRegions = () => {};
  const onStatus = (status) => {
    const options = { simulatedOffline: isSimulatedOffline() };
    pill(status, options);
    syncPanel.update(status, options);
    narrate(status);
    if (status.region !== servingRegion) {
      servingRegion = status.region;
      refreshRegions();
    }
  };
  handle.onStatus(onStatus);
  onStatus(handle.status);
  onSimulatedOfflineChange((offline) => {
    log("chaos", offline ? "Took this page offline" : "Brought this page back online");
    onStatus(handle.status);
  });

  // The region table, from the edge and (chaos mode) the launcher.
  let edge = { status: null, error: null };
  let world = null;
  const regionsPanel = mountRegionsPanel($("regions-panel"), {
    actions: control && chaosActions(control, log, () => controlPoll?.now()),
  });
  refreshRegions = () => regionsPanel.update({ edgeStatus: edge.status, edgeError: edge.error, world, servingRegion });
  startPolling(fetchEdgeStatus, POLL_MS, (result) => {
    edge = result.ok ? { status: result.value, error: null } : { status: null, error: isSimulatedOffline() || !navigator.onLine ? "this page is offline" : result.error.message };
    refreshRegions();
  });
  const controlPoll =
    control &&
    startPolling(() => control.state(), POLL_MS, (result) => {
      if (result.ok) world = result.value;
      refreshRegions();
    });

  // For the console (and the end-to-end tests): the SDK objects behind the page.
  window.demo = { repo, handle, board };
}

start().catch(fatal);
