// capture.mjs records real automerge-repo websocket frames as test vectors
// for the Go package wire.
//
// It starts a plain `ws` WebSocketServer on 127.0.0.1 wired to a real Repo
// through NodeWSServerAdapter (the reference sync server setup: storage, a
// share policy that announces nothing), connects two real client Repos
// through BrowserWebSocketClientAdapter ("alice" with storage, "bob"
// ephemeral), and one raw socket ("mallory") that asks for an unsupported
// protocol version. Every binary frame the server socket receives or sends is
// written, in order, to <outdir>/<seq>-<direction>-<type>.cbor, where
// direction is c2s (client to server) or s2c (server to client).
//
//	npm ci && node capture.mjs ../frames
//
// Everything runs over loopback; nothing is fetched from the network.

import fs from "node:fs"
import path from "node:path"
import { WebSocketServer, WebSocket } from "ws"
import {
  Repo,
  cbor,
  generateAutomergeUrl,
} from "@automerge/automerge-repo"
import {
  NodeWSServerAdapter,
  BrowserWebSocketClientAdapter,
} from "@automerge/automerge-repo-network-websocket"

const outDir = path.resolve(process.argv[2] ?? "../frames")
fs.rmSync(outDir, { recursive: true, force: true })
fs.mkdirSync(outDir, { recursive: true })

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// MemoryStorage is a minimal StorageAdapterInterface; it gives a Repo a
// storageId, so its peerMetadata looks like a real persistent peer's.
class MemoryStorage {
  #data = new Map()
  #key = key => key.join("/")
  async load(key) {
    return this.#data.get(this.#key(key))
  }
  async save(key, data) {
    this.#data.set(this.#key(key), data)
  }
  async remove(key) {
    this.#data.delete(this.#key(key))
  }
  async loadRange(prefix) {
    const p = this.#key(prefix)
    return [...this.#data.entries()]
      .filter(([k]) => k === p || k.startsWith(p + "/"))
      .map(([k, data]) => ({ key: k.split("/"), data }))
  }
  async removeRange(prefix) {
    for (const { key } of await this.loadRange(prefix)) this.remove(key)
  }
}

let seq = 0
const counts = {}
const index = []
// record writes one frame. conn names the server-side socket it travelled
// on: the senderId of the first join seen on that socket.
function record(conn, direction, raw) {
  const bytes = Buffer.isBuffer(raw)
    ? raw
    : raw instanceof ArrayBuffer
      ? Buffer.from(raw)
      : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const msg = cbor.decode(bytes)
  if (msg.type === "join" && conn.peer === undefined) conn.peer = msg.senderId
  seq++
  const name = `${String(seq).padStart(4, "0")}-${direction}-${msg.type}.cbor`
  fs.writeFileSync(path.join(outDir, name), bytes)
  counts[msg.type] = (counts[msg.type] ?? 0) + 1
  index.push({ file: name, direction, conn: conn.peer, type: msg.type })
  console.log(name, `${bytes.length} bytes`, describe(msg))
}

function describe(msg) {
  const out = {}
  for (const [k, v] of Object.entries(msg)) {
    out[k] = v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v
  }
  return JSON.stringify(out)
}

// The server socket. Our "connection" listener is registered before the
// adapter's, so every socket is wrapped before the adapter can use it.
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await new Promise(resolve => wss.once("listening", resolve))
wss.on("connection", socket => {
  const conn = {}
  socket.on("message", (data, isBinary) => {
    if (isBinary) record(conn, "c2s", data)
  })
  const send = socket.send.bind(socket)
  socket.send = (data, ...rest) => {
    record(conn, "s2c", data)
    return send(data, ...rest)
  }
})
const url = `ws://127.0.0.1:${wss.address().port}`

const server = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new MemoryStorage(),
  peerId: "relay",
  sharePolicy: async () => false,
  enableRemoteHeadsGossiping: true,
})

const alice = new Repo({
  network: [new BrowserWebSocketClientAdapter(url)],
  storage: new MemoryStorage(),
  peerId: "alice",
  enableRemoteHeadsGossiping: true,
})
await alice.networkSubsystem.whenReady()
await sleep(100)

const bob = new Repo({
  network: [new BrowserWebSocketClientAdapter(url)],
  peerId: "bob",
  enableRemoteHeadsGossiping: true,
})
await bob.networkSubsystem.whenReady()
await sleep(100)

// Bob wants to hear about the heads alice's storage has.
const aliceStorageId = await alice.storageId()
bob.subscribeToRemotes([aliceStorageId])
await sleep(100)

// Alice creates a document and changes it: sync.
const handle = alice.create({ title: "council" })
handle.change(doc => {
  doc.members = ["alice"]
})
await sleep(300)

// Bob finds it through the server: request, then sync.
const bobHandle = await bob.find(handle.url)
await sleep(300)

// Alice changes it again while both are syncing: fan-out and remote heads.
handle.change(doc => {
  doc.members.push("bob")
})
await sleep(300)

// Ephemeral: alice broadcasts, the server relays to bob; then bob answers.
handle.broadcast({ cursor: 3, user: "alice" })
await sleep(200)
bobHandle.broadcast({ cursor: 7, user: "bob" })
await sleep(200)

// Bob looks for a document nobody has: request, doc-unavailable.
try {
  await bob.find(generateAutomergeUrl())
  throw new Error("unexpectedly found a never-created document")
} catch (e) {
  if (!String(e).includes("unavailable")) throw e
}
await sleep(200)

// Mallory speaks an unknown protocol version: error.
const mallory = new WebSocket(url)
await new Promise(resolve => mallory.once("open", resolve))
mallory.send(
  cbor.encode({
    type: "join",
    senderId: "mallory",
    peerMetadata: { isEphemeral: true },
    supportedProtocolVersions: ["2"],
  })
)
await sleep(200)
mallory.close()

// Disconnect rather than shutdown: shutdown flushes every handle and throws
// on bob's unavailable one.
alice.networkSubsystem.disconnect()
bob.networkSubsystem.disconnect()
await sleep(100)
server.networkSubsystem.disconnect()
wss.close()

// index.json says which connection each frame travelled on; the file names
// alone cannot (bob, for one, relays alice's ephemeral messages unchanged).
fs.writeFileSync(
  path.join(outDir, "index.json"),
  JSON.stringify(index, null, 1) + "\n"
)

console.log(`${seq} frames in ${outDir}:`, counts)
process.exit(0)
