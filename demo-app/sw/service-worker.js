// The demo's service worker (PRECACHE and VERSION are prepended at build time).
// It only makes the page itself load without a network: the documents are the
// SDK's business (IndexedDB) and sync requests are never touched here.
//
// - /assets/* are content-hashed: served from the cache, fetched once; so are
//   the other precached files (the icon).
// - The page is fetched from the network first, so a deploy shows at once;
//   without a network the cached copy is served.
// - Dynamic paths (/v1/*, /_edge/*) and non-GET requests pass straight through.

const CACHE = `edgesync-demo-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("edgesync-demo-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function isDynamic(url) {
  return url.pathname.startsWith("/v1/") || url.pathname.startsWith("/_edge/");
}

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

async function pageNetworkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok) {
      const cache = await caches.open(CACHE);
      await cache.put("/", response.clone());
    }
    return response;
  } catch (networkError) {
    const cached = await caches.match("/");
    if (cached) return cached;
    throw networkError;
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || isDynamic(url)) return;
  if (request.mode === "navigate") {
    event.respondWith(pageNetworkFirst(request));
  } else if (url.pathname.startsWith("/assets/") || PRECACHE.includes(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});
