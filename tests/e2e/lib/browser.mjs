// Headless Chromium (Debian's, driven by playwright-core) and the demo page as
// the tests use it: through its UI for edits, through `window.demo` (the SDK
// objects the page exposes for the console) for what the UI cannot show
// exactly, such as document heads.

import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { screenshotsDir } from "./paths.mjs";
import { waitFor } from "./wait.mjs";

// Without the last three, Chromium's own background connections are refused
// (no internet here), many at a time (see /work/shared/TOOLCHAIN.md).
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** One browser context (its own IndexedDB: a separate device) with the demo open. */
export class DemoPage {
  static async open(browser, url, name) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await context.newPage();
    const demo = new DemoPage(name, context, page);
    await demo.goto(url);
    return demo;
  }

  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    /** Uncaught exceptions and console errors, for tests that require none. */
    this.problems = [];
    page.on("pageerror", (error) => this.problems.push(`uncaught: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") this.problems.push(`console: ${message.text()}`);
    });
  }

  async goto(url) {
    await this.page.goto(url);
    await this.waitLoaded();
  }

  async reload() {
    await this.page.reload();
    await this.waitLoaded();
  }

  /** The board's structure is there (a joining page first fetches it from a region). */
  async waitLoaded() {
    try {
      await this.page.waitForFunction(() => document.body.dataset.board === "loaded", null, { timeout: 30_000 });
    } catch (error) {
      // Say what the page showed instead, and keep a picture of it.
      const shot = await this.screenshot(`failed-load-${this.name}`).catch(() => "no screenshot");
      const seen = await this.page
        .evaluate(() => ({ board: document.body.dataset.board, pill: document.querySelector("#sync-pill")?.textContent, activity: document.querySelector("[data-testid=activity]")?.innerText }))
        .catch((e) => e.message);
      throw new Error(`${this.name} did not load its board: ${JSON.stringify(seen)}; problems: ${JSON.stringify(this.problems)}; ${shot}`, { cause: error });
    }
  }

  boardUrl() {
    return this.page.url();
  }

  boardId() {
    return this.page.evaluate(() => window.demo.handle.id);
  }

  status() {
    return this.page.evaluate(() => window.demo.handle.status);
  }

  heads() {
    return this.page.evaluate(() => [...window.demo.handle.heads()].sort());
  }

  /** The document as JSON (counters as numbers, dates as ISO strings). */
  value() {
    return this.page.evaluate(() => JSON.parse(JSON.stringify(window.demo.handle.value())));
  }

  /** Starts recording every sync status the page receives (see `recordedStatuses`). */
  recordStatuses() {
    return this.page.evaluate(() => {
      window.__statuses = [];
      window.demo.handle.onStatus((status) => window.__statuses.push(status));
    });
  }

  recordedStatuses() {
    return this.page.evaluate(() => window.__statuses ?? []);
  }

  list(index) {
    return this.page.locator(".list[data-list-id]").nth(index);
  }

  task(taskId) {
    return this.page.locator(`[data-task-id="${taskId}"]`);
  }

  /** Adds a task through the UI to list `listIndex`; returns its id once it is rendered. */
  async addTask(listIndex, title) {
    const input = this.list(listIndex).locator(".add-task .new-item");
    await input.fill(title);
    await input.press("Enter");
    return waitFor(`task "${title}" in ${this.name}`, async () => {
      const value = await this.value();
      const task = value.lists[listIndex].tasks.find((t) => t.title === title);
      return task ? { ok: true, value: task.id } : { ok: false, seen: value.lists[listIndex].tasks.map((t) => t.title) };
    });
  }

  /** Types `text` key by key at the end of a task's notes, like a person would. */
  async typeNotes(taskId, text, { delay = 20 } = {}) {
    const notes = this.task(taskId).locator("textarea[data-field=notes]");
    await notes.focus();
    await notes.press("ControlOrMeta+End");
    await notes.pressSequentially(text, { delay });
  }

  async vote(taskId, times = 1) {
    const button = this.task(taskId).getByRole("button", { name: "Vote up" });
    for (let i = 0; i < times; i++) await button.click();
  }

  /** The text the page shows in a task field (what the user sees, not the model). */
  fieldText(taskId, field) {
    return this.task(taskId).locator(`[data-field=${field}]`).inputValue();
  }

  /** The chaos control `action` ("kill", "restart", "black-hole") of a region's card, clicked. */
  async chaos(region, action) {
    await this.page.locator(`.region[data-region="${region}"] [data-action="${action}"]`).click();
  }

  /** Sets the edge -> region one-way latency with the card's selector. */
  async chaosLatency(region, oneWayMs) {
    await this.page.locator(`.region[data-region="${region}"] select[data-action=latency]`).selectOption(String(oneWayMs));
  }

  /** Waits until the page reports no unsynced change and no error. */
  async waitSynced(timeoutMs = 30_000) {
    return waitFor(`${this.name} to be synced`, async () => {
      const status = await this.status();
      const ok = status.online && status.pendingChanges === 0 && !status.lastError && status.lastSyncAt !== null;
      return ok ? { ok, value: status } : { ok, seen: status };
    }, { timeoutMs });
  }

  async screenshot(name) {
    fs.mkdirSync(screenshotsDir, { recursive: true });
    const file = path.join(screenshotsDir, `${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }

  close() {
    return this.context.close();
  }
}
