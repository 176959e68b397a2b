// The edge's own view of the regions: GET /_edge/status (health, smoothed RTT,
// attempts and failures per region), as seen by the edge isolate that answers.

export async function fetchEdgeStatus() {
  const response = await fetch("/_edge/status", { cache: "no-store", headers: { accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!body) throw new Error(`the edge answered ${response.status} without a status document`);
  if (body.ok === false && body.error) throw new Error(`edge configuration error: ${body.error.message}`);
  return body;
}
