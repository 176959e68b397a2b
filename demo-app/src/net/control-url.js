// Which control API the page may use: `?control=<url>` from the local-world
// launcher, accepted only for a plain-HTTP loopback address, so no link can
// point the page's chaos buttons at anything but the developer's own machine.

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The control API's origin from a page's query string, or null (no chaos controls). */
export function controlUrlFrom(search) {
  const raw = new URLSearchParams(search).get("control");
  if (!raw) return null;
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" || !LOOPBACK_HOSTS.has(url.hostname)) return null;
  return url.origin;
}
