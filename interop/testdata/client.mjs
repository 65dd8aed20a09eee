// An interactive automerge-repo client for the interop tests in ../../interop.
//
// It runs one stock Repo from @automerge/automerge-repo with the stock
// websocket client adapter, connected to one relay, and is driven by JSON
// commands on stdin, one per line:
//
//   {"id":1,"cmd":"create","value":{"title":"x"}}
//
// Every command gets exactly one reply line on stdout carrying the same id:
// the event named below, or {"id":1,"event":"error","error":"..."}. Other
// lines (no id) are unsolicited events: started, connected, disconnected,
// network-error, fatal, and relay-heads {url, type, heads} for every sync
// message the relay sends, decoded before the repo sees it: the heads the
// relay advertised, which the crash test holds it to.
//
// Commands (timeoutMs defaults to 10000 everywhere):
//   wait-connected {timeoutMs}                 -> connected {peerId}
//   create {value}                             -> created {url, heads}
//   create-at {url, value}                     -> created {url, heads}: a new document under
//                                                 a chosen id (repo.import with docId), as a
//                                                 client probing which ids exist would
//   find {url, timeoutMs, hashes}              -> doc {url, value, heads, hashes?, ms}
//                                                 | unavailable {url, ms} | timeout {url, ms}
//   get {url, hashes}                          -> doc (of a handle this client already holds)
//   change {url, ops:[{op,path,value|by}], message?}
//                                              -> changed {heads}; message is the change's
//                                                 message (any text: forgeries included)
//        op: set (creates missing parent maps), push (creates the list),
//            del, inc (a plain number)
//   wait-for {url, path, equals|includes|heads, timeoutMs}
//                                              -> doc, once the value at path deep-equals
//                                                 `equals`, or is a list containing every
//                                                 item of `includes`, or the doc has `heads`
//   wait-ack {url, timeoutMs}                  -> acked {heads, relayHeads, ms}: a sync
//                                                 message from the relay advertised heads
//                                                 that cover this client's current heads
//   write-loop {url, key, intervalMs}          -> writing; then appends "<name>-<n>"
//                                                 (n = 1, 2, ...) to the list at key every
//                                                 intervalMs
//   stop-writes {}                             -> writes-stopped {written: {key: n}}
//   disconnect {}                              -> disconnected (the adapter is closed and
//                                                 does not redial)
//   reconnect {timeoutMs}                      -> connected
//   ephemeral-send {url, message}              -> sent (handle.broadcast)
//   ephemeral-wait {url, match, timeoutMs}     -> ephemeral {message, senderId}: the first
//                                                 received message (buffered since the handle
//                                                 was obtained) whose fields include `match`
//   records {url}                              -> records {records: [{hash, op, by, council,
//                                                 founds?, ok, reason?}]}: every change of
//                                                 the document that carries a signed record
//                                                 (veche-fact/1, crdt/doc.go), its signature
//                                                 checked here with node:crypto, independently
//                                                 of the Go implementation; founds is the
//                                                 council id a founding record names
//   exit {}                                    -> bye, then the process exits 0
//
// Options: --relay ws://HOST:PORT/sync (or $VECHE_RELAY_URL), --name NAME,
// --storage DIR (NodeFSStorageAdapter; without it the repo is ephemeral),
// --retry-ms N (adapter redial interval, default 200), --lifetime-ms N (the
// process exits 3 after that long whatever happens, default 120000).
// End of stdin is the same as exit. Exit codes: 0 ok, 2 bad usage or fatal
// error, 3 lifetime exceeded.

import { deepEqual, die, emit, intOption, sleep, TimeoutError, withTimeout } from "./common.mjs"
import { parseArgs } from "node:util"
import readline from "node:readline"
import * as A from "@automerge/automerge"
import { Repo, isValidAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import bs58check from "bs58check"
import { createHash, createPublicKey, verify } from "node:crypto"

const { values: opts } = parseArgs({
  options: {
    relay: { type: "string", default: process.env.VECHE_RELAY_URL },
    name: { type: "string", default: "client" },
    storage: { type: "string" },
    "retry-ms": { type: "string", default: "200" },
    "lifetime-ms": { type: "string", default: "120000" },
  },
})
if (!opts.relay) die("--relay ws://HOST:PORT/sync (or VECHE_RELAY_URL) is required")
const retryMs = intOption(opts["retry-ms"], "retry-ms")
const lifetimeMs = intOption(opts["lifetime-ms"], "lifetime-ms")
const name = opts.name

setTimeout(() => die(`lifetime of ${lifetimeMs} ms exceeded`, 3), lifetimeMs).unref()

// The stock adapter rethrows websocket errors other than ECONNREFUSED from an
// event handler (e.g. ECONNRESET when the relay dies during the handshake,
// or a 404 on upgrade), and while the relay is down it redials every
// retry interval, detaching its listeners from the previous attempt, whose
// ECONNREFUSED then has no listener and is thrown by the emitter; likewise
// when disconnect() closes an attempt still connecting. Such errors
// escape as uncaught; a browser would only log them, and the adapter redials
// on its own, so report and go on.
const transientCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH"])
process.on("uncaughtException", err => {
  if (
    transientCodes.has(err?.code) ||
    /Unexpected server response|socket hang up|closed before the connection was established/.test(err?.message)
  ) {
    emit({ event: "network-error", message: String(err?.message ?? err), code: err?.code })
    return
  }
  die(`uncaught: ${err?.stack ?? err}`)
})
process.on("unhandledRejection", err => die(`unhandled rejection: ${err?.stack ?? err}`))

const adapter = new WebSocketClientAdapter(opts.relay, retryMs)

// Observe what the relay says, before the repo acts on it.
let relayPeerId
let offline = false
const relayHeads = new Map() // documentId -> heads of the relay's latest sync message
const connectWaiters = new Set()

adapter.on("peer-candidate", ({ peerId, peerMetadata }) => {
  relayPeerId = peerId
  emit({ event: "connected", peerId, peerMetadata })
  for (const resolve of connectWaiters) resolve(peerId)
  connectWaiters.clear()
})
adapter.on("peer-disconnected", ({ peerId }) => {
  if (peerId === relayPeerId) relayPeerId = undefined
  emit({ event: "disconnected", peerId })
})
adapter.on("message", message => {
  if ((message.type === "sync" || message.type === "request") && message.data) {
    let heads
    try {
      heads = A.decodeSyncMessage(message.data).heads
    } catch (err) {
      emit({ event: "bad-sync-message", documentId: message.documentId, error: String(err) })
      return
    }
    relayHeads.set(message.documentId, heads)
    emit({ event: "relay-heads", url: `automerge:${message.documentId}`, type: message.type, heads })
  } else if (message.type === "doc-unavailable") {
    emit({ event: "relay-doc-unavailable", url: `automerge:${message.documentId}` })
  }
})

// Redialing is the adapter's own business (a timer after close); while the
// test holds this client offline, every such attempt is dropped.
const originalConnect = adapter.connect.bind(adapter)
adapter.connect = (peerId, peerMetadata) => {
  if (offline) return
  originalConnect(peerId, peerMetadata)
}

const repo = new Repo({
  network: [adapter],
  storage: opts.storage ? new NodeFSStorageAdapter(opts.storage) : undefined,
  peerId: `${name}-${Math.random().toString(36).slice(2, 10)}`,
})

const handles = new Map() // url -> handle
const ephemeral = new Map() // url -> [{message, senderId}]

function docUrl(url) {
  if (!isValidAutomergeUrl(url)) throw new Error(`not an automerge URL: ${url}`)
  return `automerge:${parseAutomergeUrl(url).documentId}`
}

function adopt(handle) {
  const url = docUrl(handle.url)
  if (handles.has(url)) return handles.get(url)
  handles.set(url, handle)
  ephemeral.set(url, [])
  handle.on("ephemeral-message", ({ message, senderId }) => {
    ephemeral.get(url).push({ message, senderId })
  })
  return handle
}

function held(url) {
  const handle = handles.get(docUrl(url))
  if (!handle) throw new Error(`no handle for ${url}: create or find it first`)
  return handle
}

function snapshot(handle, withHashes) {
  const doc = handle.doc()
  const out = { url: docUrl(handle.url), value: A.toJS(doc), heads: A.getHeads(doc) }
  if (withHashes) out.hashes = A.getChangesMetaSince(doc, []).map(c => c.hash)
  return out
}

function valueAt(root, path = []) {
  let v = root
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined
    v = v[key]
  }
  return v
}

function applyOp(doc, { op, path, value, by }) {
  if (!Array.isArray(path) || path.length === 0) throw new Error(`op ${op}: path must be a non-empty list`)
  let parent = doc
  for (const key of path.slice(0, -1)) {
    if (parent[key] === undefined) parent[key] = {}
    parent = parent[key]
  }
  const last = path[path.length - 1]
  switch (op) {
    case "set":
      parent[last] = value
      break
    case "push":
      if (parent[last] === undefined) parent[last] = []
      parent[last].push(value)
      break
    case "del":
      delete parent[last]
      break
    case "inc":
      parent[last] = (parent[last] ?? 0) + (by ?? 1)
      break
    default:
      throw new Error(`unknown op ${op}`)
  }
}

/** Do the relay's latest advertised heads include (or descend from) all of heads? */
function relayCovers(doc, documentId, heads) {
  const advertised = relayHeads.get(documentId)
  if (!advertised || advertised.length === 0) return false
  if (!A.hasHeads(doc, advertised)) return false // relay knows changes we do not have yet
  const notCovered = new Set(A.getChangesMetaSince(doc, advertised).map(c => c.hash))
  return heads.every(h => !notCovered.has(h))
}


/** Checks the signed record a change message carries, as crdt/doc.go specifies. */
function checkRecord(message) {
  const line = (message ?? "").split("\n").find(l => l.startsWith("veche-fact/1 "))
  if (!line) return null
  const parts = line.slice("veche-fact/1 ".length).split(" ")
  if (parts.length !== 2) return { ok: false, reason: "malformed record line" }
  const payload = Buffer.from(parts[0], "base64url")
  const sig = Buffer.from(parts[1], "base64url")
  let rec
  try {
    rec = JSON.parse(payload.toString("utf8"))
  } catch (e) {
    return { ok: false, reason: "payload is not JSON" }
  }
  const raw = Buffer.from(rec.key ?? "", "base64url")
  if (raw.length !== 32 || sig.length !== 64) return { ok: false, reason: "bad key or signature size", op: rec.op, by: rec.by }
  // An Ed25519 public key in SPKI DER: a fixed 12-byte prefix, then the key.
  const key = createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]), format: "der", type: "spki" })
  const ok = verify(null, Buffer.concat([Buffer.from("veche-fact/1\n"), payload]), key, sig)
  const out = { ok, op: rec.op, by: rec.by, council: rec.council }
  if (!ok) out.reason = "bad signature"
  if (rec.op === "create-council") {
    const sum = createHash("sha256").update(Buffer.concat([Buffer.from("veche-council/1\n"), payload])).digest()
    out.founds = bs58check.encode(sum.subarray(0, 16))
  }
  return out
}

async function poll(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = check()
    if (result) return result
    if (Date.now() > deadline) throw new TimeoutError(`${what} timed out after ${timeoutMs} ms`)
    await sleep(10)
  }
}

function whenConnected(timeoutMs) {
  if (relayPeerId) return Promise.resolve(relayPeerId)
  let resolver
  const p = new Promise(resolve => {
    resolver = resolve
    connectWaiters.add(resolve)
  })
  return withTimeout(p, timeoutMs, "connecting to the relay").finally(() => connectWaiters.delete(resolver))
}

const writers = new Map() // key -> {timer, n}

const commands = {
  async "wait-connected"({ timeoutMs = 10000 }) {
    return { event: "connected", peerId: await whenConnected(timeoutMs) }
  },

  async create({ value }) {
    const handle = adopt(repo.create(value))
    return { event: "created", url: docUrl(handle.url), heads: A.getHeads(handle.doc()) }
  },

  async "create-at"({ url, value }) {
    const { documentId } = parseAutomergeUrl(docUrl(url))
    const handle = adopt(repo.import(A.save(A.from(value)), { docId: documentId }))
    return { event: "created", url: docUrl(handle.url), heads: A.getHeads(handle.doc()) }
  },

  async find({ url, timeoutMs = 10000, hashes = false }) {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    try {
      const handle = await repo.find(docUrl(url), { signal: AbortSignal.timeout(timeoutMs) })
      adopt(handle)
      return { event: "doc", ...snapshot(handle, hashes), ms: ms() }
    } catch (err) {
      if (/unavailable/i.test(err?.message)) return { event: "unavailable", url, ms: ms() }
      if (err?.name === "AbortError" || err?.name === "TimeoutError") return { event: "timeout", url, ms: ms() }
      throw err
    }
  },

  async get({ url, hashes = false }) {
    return { event: "doc", ...snapshot(held(url), hashes) }
  },

  async change({ url, ops, message }) {
    const handle = held(url)
    if (!Array.isArray(ops) || ops.length === 0) throw new Error("change: ops must be a non-empty list")
    handle.change(doc => ops.forEach(op => applyOp(doc, op)), message === undefined ? {} : { message })
    return { event: "changed", heads: A.getHeads(handle.doc()) }
  },

  async "wait-for"({ url, path, equals, includes, heads, timeoutMs = 10000 }) {
    const handle = held(url)
    await poll(`wait-for ${JSON.stringify({ path, equals, includes, heads })}`, timeoutMs, () => {
      const doc = handle.doc()
      if (heads !== undefined) return A.hasHeads(doc, heads)
      const v = valueAt(A.toJS(doc), path)
      if (equals !== undefined) return deepEqual(v, equals)
      if (includes !== undefined) return Array.isArray(v) && includes.every(x => v.some(y => deepEqual(x, y)))
      throw new Error("wait-for needs equals, includes or heads")
    }).catch(err => {
      if (err instanceof TimeoutError) err.message += `; last value ${JSON.stringify(A.toJS(handle.doc()))}`
      throw err
    })
    return { event: "doc", ...snapshot(handle, false) }
  },

  async "wait-ack"({ url, timeoutMs = 10000 }) {
    const handle = held(url)
    const started = performance.now()
    const heads = A.getHeads(handle.doc())
    await poll("wait-ack", timeoutMs, () => relayCovers(handle.doc(), handle.documentId, heads))
    return {
      event: "acked",
      heads,
      relayHeads: relayHeads.get(handle.documentId),
      ms: Math.round(performance.now() - started),
    }
  },

  async "write-loop"({ url, key, intervalMs = 10 }) {
    const handle = held(url)
    if (writers.has(key)) throw new Error(`already writing to ${key}`)
    const w = { n: 0, timer: undefined }
    w.timer = setInterval(() => {
      w.n++
      const value = `${name}-${w.n}`
      handle.change(doc => {
        if (doc[key] === undefined) doc[key] = []
        doc[key].push(value)
      })
    }, intervalMs)
    writers.set(key, w)
    return { event: "writing" }
  },

  async "stop-writes"() {
    const written = {}
    for (const [key, w] of writers) {
      clearInterval(w.timer)
      written[key] = w.n
    }
    writers.clear()
    return { event: "writes-stopped", written }
  },

  async disconnect() {
    offline = true
    if (adapter.socket) adapter.disconnect()
    return { event: "disconnected" }
  },

  async reconnect({ timeoutMs = 10000 }) {
    offline = false
    if (!relayPeerId) adapter.connect(adapter.peerId, adapter.peerMetadata)
    return { event: "connected", peerId: await whenConnected(timeoutMs) }
  },

  async "ephemeral-send"({ url, message }) {
    held(url).broadcast(message)
    return { event: "sent" }
  },

  async "ephemeral-wait"({ url, match = {}, timeoutMs = 10000 }) {
    held(url)
    const inbox = ephemeral.get(docUrl(url))
    const matches = m =>
      m.message !== null &&
      typeof m.message === "object" &&
      Object.entries(match).every(([k, v]) => deepEqual(m.message[k], v))
    const found = await poll(`ephemeral-wait ${JSON.stringify(match)}`, timeoutMs, () => inbox.find(matches))
    return { event: "ephemeral", message: found.message, senderId: found.senderId }
  },

  async records({ url }) {
    const doc = held(url).doc()
    const records = []
    for (const bytes of A.getAllChanges(doc)) {
      const change = A.decodeChange(bytes)
      const r = checkRecord(change.message)
      if (r) records.push({ hash: change.hash, ...r })
    }
    return { event: "records", records }
  },

  async exit() {
    await shutdown(0)
  },
}

let exiting = false
async function shutdown(code) {
  if (exiting) return
  exiting = true
  for (const w of writers.values()) clearInterval(w.timer)
  offline = true
  try {
    // Disconnects and, with storage, writes every document out.
    await withTimeout(repo.shutdown(), 5000, "repo shutdown")
  } catch (err) {
    emit({ event: "fatal", message: `shutdown: ${err}` })
    code = code || 2
  }
  emit({ event: "bye" })
  process.exit(code)
}

async function run(line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch {
    emit({ event: "error", error: `not JSON: ${line}` })
    return
  }
  const { id, cmd: name } = cmd
  try {
    const fn = commands[name]
    if (!fn) throw new Error(`unknown command ${name}`)
    const reply = await fn(cmd)
    if (reply) emit({ id, ...reply })
  } catch (err) {
    emit({ id, event: "error", error: String(err?.message ?? err) })
  }
}

const storageId = await repo.storageId()
emit({ event: "started", name, peerId: repo.peerId, storageId, relay: opts.relay })

const rl = readline.createInterface({ input: process.stdin, terminal: false })
rl.on("line", line => {
  if (line.trim() !== "") void run(line)
})
rl.on("close", () => void shutdown(0))
