// The reference relay: the wiring of the upstream automerge-repo-sync-server
// (a Repo with storage, the stock websocket server adapter on a `ws`
// WebSocketServer, a share policy that announces nothing), so the interop
// tests can run against the upstream implementation of the protocol:
//
//   VECHE_INTEROP_TARGET=reference go test ./interop/
//
// Differences from upstream, all for the tests: it listens on --addr and
// serves the websocket only at /sync, answers GET /healthz with 200, and
// optionally (--durable) holds back every sync message until the document is
// written to storage, which the stock Repo does not do: it saves on a
// debounce timer, after it has already advertised the new heads. Without
// --durable it is what the crash test must catch.
//
// Options: --addr HOST:PORT (default 127.0.0.1:3030), --data DIR (required),
// --durable, --save-debounce-ms N (the Repo's saveDebounceRate, default 100).
// SIGTERM/SIGINT: flush every document to storage, close, exit 0.

import { die, emit, intOption, withTimeout } from "./common.mjs"
import http from "node:http"
import os from "node:os"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: opts } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:3030" },
    data: { type: "string" },
    durable: { type: "boolean", default: false },
    "save-debounce-ms": { type: "string", default: "100" },
  },
})
if (!opts.data) die("--data DIR is required")
const sep = opts.addr.lastIndexOf(":")
const host = opts.addr.slice(0, sep) || "127.0.0.1"
const port = intOption(opts.addr.slice(sep + 1), "addr port")

const wss = new WebSocketServer({ noServer: true })
const adapter = new NodeWSServerAdapter(wss)

const repo = new Repo({
  network: [adapter],
  storage: new NodeFSStorageAdapter(opts.data),
  peerId: `storage-server-${os.hostname()}`,
  // Only sync documents a peer asks for by id; announce nothing.
  sharePolicy: async () => false,
  saveDebounceRate: intOption(opts["save-debounce-ms"], "save-debounce-ms"),
})

if (opts.durable) {
  // Durable before advertised: every outgoing message waits, in order, for
  // the document it concerns to be written out. A sync message carries the
  // sender's heads, so none leaves before those heads are in storage.
  // (NodeFSStorageAdapter does not fsync; that survives SIGKILL, not a power cut.)
  const send = adapter.send.bind(adapter)
  let queue = Promise.resolve()
  adapter.send = message => {
    const documentId = message.type === "sync" || message.type === "request" ? message.documentId : undefined
    queue = queue
      .then(() => (documentId && repo.handles[documentId]?.isReady() ? repo.flush([documentId]) : undefined))
      .then(() => send(message))
      .catch(err => console.error("durable send:", err))
  }
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" })
    res.end("ok\n")
    return
  }
  res.writeHead(404, { "content-type": "text/plain" })
  res.end("not found\n")
})

server.on("upgrade", (request, socket, head) => {
  if (new URL(request.url, "http://x").pathname !== "/sync") {
    socket.end("HTTP/1.1 404 Not Found\r\n\r\n")
    return
  }
  wss.handleUpgrade(request, socket, head, ws => wss.emit("connection", ws, request))
})

server.on("error", err => die(`listen ${opts.addr}: ${err.message}`))
server.listen(port, host, () => {
  emit({ event: "listening", addr: `${host}:${server.address().port}`, durable: opts.durable })
})

let closing = false
async function close(signal) {
  if (closing) return
  closing = true
  emit({ event: "closing", signal })
  try {
    await withTimeout(repo.shutdown(), 5000, "flush")
  } catch (err) {
    die(`shutdown: ${err}`)
  }
  wss.close()
  server.close()
  process.exit(0)
}
process.on("SIGTERM", () => void close("SIGTERM"))
process.on("SIGINT", () => void close("SIGINT"))
