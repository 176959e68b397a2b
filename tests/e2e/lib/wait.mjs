// Polling with a deadline: end-to-end conditions settle over seconds, and a
// failure must say what was last seen, not just "timed out".

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe()` until it returns `{ ok: true, value }`, at most `timeoutMs`;
 * throws with `what` and the last `{ ok: false, seen }` otherwise.
 */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
    } catch (error) {
      last = { ok: false, seen: `error: ${error.message}` };
    }
    if (last.ok) return last.value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last.seen)}`);
    }
    await sleep(intervalMs);
  }
}
