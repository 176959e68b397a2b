// Vite build of the demo. The edge serves demo-app/dist as static assets, so
// everything here is plain files: hashed bundles under /assets/ (cached for a
// year by public/_headers) and a service worker that keeps the page loadable
// offline.
import { defineConfig } from "vite";
import { serviceWorker } from "./sw/plugin.js";

export default defineConfig({
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
