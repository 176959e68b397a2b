// Replaces worker-build's entry (a WorkerEntrypoint class wrapped in Proxies,
// constructed for every request) with a plain module-worker object calling the
// same wasm `fetch`, keeping worker-build's panic recovery. Measured in
// `scripts/bench-edge.sh overhead`: the class entry cost the edge more workerd
// CPU per request than the whole routing engine.
//
// Usage: node edge-worker/lean-entry.mjs <worker-build output index.js, built with NO_MINIFY=1>
import { readFileSync, writeFileSync } from "node:fs";
import { transformSync } from "esbuild";

const path = process.argv[2];
if (!path) {
  console.error("usage: node lean-entry.mjs <build/index.js>");
  process.exit(2);
}
const source = readFileSync(path, "utf8");

// The exact text worker-build 0.8.7's shim produces; anything else means the
// shim changed, and this step must be revisited rather than guess.
const classEntry = "var shim_default = new Proxy(Entrypoint, classProxyHooks);";
const required = [classEntry, "function checkReinitialize()", "function handleMaybeCritical(", "Entrypoint.prototype.fetch = "];
for (const text of required) {
  const count = source.split(text).length - 1;
  if (count !== 1) {
    console.error(`lean-entry: expected ${JSON.stringify(text)} once in ${path}, found ${count}: worker-build's shim changed`);
    process.exit(1);
  }
}

const leanEntry = `const edgeFetch = Entrypoint.prototype.fetch;
var shim_default = {
  async fetch(request, env, ctx) {
    checkReinitialize();
    try {
      return await edgeFetch.call({ env, ctx }, request);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  }
};`;

const patched = source.replace(classEntry, leanEntry);
const { code } = transformSync(patched, { minify: true, format: "esm", target: "es2022" });
writeFileSync(path, code);
console.log(`lean-entry: ${path} now exports a plain module worker (${code.length} bytes)`);
