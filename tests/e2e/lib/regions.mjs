// Reads a document straight from one region (its own address, no edge, no
// simulated network) with @automerge/automerge over the protocol's single-doc
// endpoint, POST /v1/docs/{id}/sync: an independent client, so the tests check
// the regions' copies without trusting the SDK that wrote them.

import * as Automerge from "@automerge/automerge";

/** More rounds than any sync needs (see sync-protocol/PROTOCOL.md): a bound, not a wait. */
const MAX_ROUNDS = 8;

async function devToken(regionUrl) {
  const response = await fetch(`${regionUrl}/v1/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: "e2e-checker", read: ["board-*"], ttl_s: 600 }),
  });
  if (!response.ok) throw new Error(`${regionUrl}: dev token refused with ${response.status}`);
  return (await response.json()).token;
}

/** The region's copy of document `docId` as an automerge document. */
export async function readFromRegion(regionUrl, docId) {
  const token = await devToken(regionUrl);
  let doc = Automerge.init();
  let state = Automerge.initSyncState();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const [nextState, message] = Automerge.generateSyncMessage(doc, state);
    state = nextState;
    if (!message) return doc;
    const response = await fetch(`${regionUrl}/v1/docs/${encodeURIComponent(docId)}/sync`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/x-automerge-sync" },
      body: message,
    });
    if (!response.ok) throw new Error(`${regionUrl}: sync of ${docId} answered ${response.status}: ${await response.text()}`);
    const reply = new Uint8Array(await response.arrayBuffer());
    if (reply.length === 0) return doc;
    [doc, state] = Automerge.receiveSyncMessage(doc, state, reply);
  }
  return doc;
}

/** `{ heads, value }` of the region's copy: sorted heads and a JSON-comparable value. */
export async function regionCopy(regionUrl, docId) {
  const doc = await readFromRegion(regionUrl, docId);
  return { heads: [...Automerge.getHeads(doc)].sort(), value: JSON.parse(JSON.stringify(Automerge.toJS(doc))) };
}
