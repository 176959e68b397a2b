// Tokens for the demo. A real app gets its JWT from its own login; the demo asks
// a development-mode region (`region-server --dev`, as the local world runs
// them) to mint one through the edge: POST /v1/dev/token. Production regions
// do not serve that endpoint.

const TTL_S = 3600;
/** Refresh this long before expiry so a round never carries a token about to lapse. */
const EARLY_REFRESH_MS = 60_000;

function idempotencyKey() {
  return crypto.randomUUID();
}

/**
 * The SDK's `token` callback: `(forceRefresh) => Promise<string>` for user
 * `subject`, allowed to read and write documents matching `scope`.
 */
export function devTokenProvider({ subject, scope }) {
  let cached = null;
  let pending = null;

  async function mint() {
    const response = await fetch("/v1/dev/token", {
      method: "POST",
      // Minting twice is harmless: the key lets the edge retry it on another region.
      headers: { "content-type": "application/json", "idempotency-key": idempotencyKey() },
      body: JSON.stringify({ sub: subject, read: [scope], write: [scope], ttl_s: TTL_S }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok || !body || typeof body.token !== "string") {
      const why = body && body.error ? body.error.message : `status ${response.status}`;
      throw new Error(`no development token (${why}); the regions must run with --dev`);
    }
    cached = { token: body.token, refreshAt: Date.now() + TTL_S * 1000 - EARLY_REFRESH_MS };
    return body.token;
  }

  return (forceRefresh) => {
    if (!forceRefresh && cached && Date.now() < cached.refreshAt) return cached.token;
    // Concurrent rounds share one mint.
    if (!pending) pending = mint().finally(() => (pending = null));
    return pending;
  };
}
