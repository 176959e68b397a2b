// Vite build of the demo. The edge serves demo-app/dist as static assets, so
// everything here is plain files: hashed bundles under /assets/ (cached for a
// year by public/_headers) and a service worker that keeps the page loadable
// offline.
import { defineConfig } from "vite";
import { serviceWorker } from "./sw/plugin.js";

// `npm run dev` (hot reload) sends the dynamic paths to a running edge:
// start the world with `local-world --allow-origin http://127.0.0.1:5173` and
// open http://127.0.0.1:5173/?control=<the printed control URL>.
const edge = process.env.EDGE_URL || "http://127.0.0.1:8787";

export default defineConfig({
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: { "/v1": edge, "/_edge": edge },
  },
  // The SDK's .wasm is found through `new URL(..., import.meta.url)`; the dev
  // server's pre-bundler would rewrite that URL (see client-sdk/README.md).
  optimizeDeps: { exclude: ["edgesync"] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The SDK's wasm is one ~2 MB asset by design; do not warn about it.
    chunkSizeWarningLimit: 4096,
  },
  plugins: [serviceWorker({ template: "sw/service-worker.js", extra: ["/favicon.svg"] })],
});
