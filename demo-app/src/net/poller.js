// Polls `load` every `intervalMs` (never two at once; slower while the tab is
// hidden) and hands each outcome to `onResult({ ok, value | error })`.

const HIDDEN_FACTOR = 5;

export function startPolling(load, intervalMs, onResult) {
  let stopped = false;
  let timer = null;
  let wake = null;

  async function tick() {
    timer = null;
    try {
      onResult({ ok: true, value: await load() });
    } catch (error) {
      onResult({ ok: false, error });
    }
    if (stopped) return;
    const delay = document.hidden ? intervalMs * HIDDEN_FACTOR : intervalMs;
    timer = setTimeout(tick, delay);
  }

  // A poll right away when the tab becomes visible or on demand (after a chaos action).
  wake = () => {
    if (!stopped && timer !== null) {
      clearTimeout(timer);
      timer = null;
      tick();
    }
  };
  document.addEventListener("visibilitychange", wake);
  tick();

  return {
    now: () => wake(),
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      document.removeEventListener("visibilitychange", wake);
    },
  };
}
