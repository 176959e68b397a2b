// The peer the region benchmark compares against: an automerge-repo sync server
// (the shape of automerge-repo-sync-server) with the Node filesystem storage and
// the WebSocket server network adapter, all from npm.
//
// Usage: node automerge-repo-server.mjs <port> <data-dir>
// Prints "ready <port>" once it accepts connections; exits on SIGTERM/SIGINT.
import { Repo } from "@automerge/automerge-repo"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { WebSocketServer } from "ws"

const [port, dataDir] = process.argv.slice(2)
if (!port || !dataDir) {
  console.error("usage: automerge-repo-server.mjs <port> <data-dir>")
  process.exit(2)
}

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port) })
const repo = new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dataDir),
  peerId: `bench-server-${port}`,
  // A sync server answers what clients ask for and announces nothing itself.
  sharePolicy: async () => false,
})

wss.on("listening", () => console.log(`ready ${port}`))

const stop = async () => {
  wss.close()
  await repo.shutdown?.()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
