// The reference relay for the load benchmark: the wiring of
// automerge-repo-sync-server (src/server.js upstream) with nothing added but
// command-line flags, a /healthz route and a fixed websocket path.
//
// Upstream builds
//   new Repo({
//     network: [new NodeWSServerAdapter(wss)],
//     storage: new NodeFSStorageAdapter(dir),
//     peerId: `storage-server-${hostname}`,
//     sharePolicy: async () => false,  // only sync documents a peer asks for by id
//   })
// on a `ws` WebSocketServer in noServer mode fed by an HTTP server's upgrade
// events. Upstream upgrades any path; here only /sync, the path veche serves,
// so that the load clients use the same URL for both relays.
//
// Usage: node interop/testdata/bench/reference-server.mjs --port 3030 --data DIR [--host 127.0.0.1]

import fs from "node:fs"
import http from "node:http"
import os from "node:os"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "3030" },
    host: { type: "string", default: "127.0.0.1" },
    data: { type: "string", default: ".amrg" },
  },
})

fs.mkdirSync(args.data, { recursive: true })

const wss = new WebSocketServer({ noServer: true })

const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(args.data),
  peerId: `storage-server-${os.hostname()}`,
  sharePolicy: async () => false,
})

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname
  if (req.method === "GET" && path === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n")
    return
  }
  res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
})

server.on("upgrade", (req, socket, head) => {
  const path = new URL(req.url ?? "/", "http://x").pathname
  if (path !== "/sync") {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n")
    return
  }
  wss.handleUpgrade(req, socket, head, ws => wss.emit("connection", ws, req))
})

server.listen(Number(args.port), args.host, () => {
  const { address, port } = server.address()
  console.log(`reference sync server listening on ${address}:${port} (data ${args.data})`)
})

let closing = false
async function close() {
  if (closing) return
  closing = true
  wss.close()
  server.close()
  try {
    await repo.shutdown()
  } finally {
    process.exit(0)
  }
}
process.on("SIGTERM", close)
process.on("SIGINT", close)
