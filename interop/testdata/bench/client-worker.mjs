// A child process of load.mjs that runs stock automerge-repo clients.
//
// The parent talks to it over the IPC channel of child_process.fork:
//
//   parent → {type:"setup", wsUrl, preload, storageRoot, latency}
//            create a warm-up document {k:{}} and the measured document
//            {k:{}, pre:[]}, make `preload` changes to the latter (one list
//            push each), check through a fresh client that the relay has
//            both, complete, and shut the clients down
//   worker → {type:"setup-done", url, warmupUrl, setupMs}
//
//   parent → {type:"join", wsUrl, url, warmupUrl, clientIds, preload, storageRoot}
//            start one Repo per client id, find both documents, wait until
//            the measured one holds the preload
//   worker → {type:"joined"}
//   parent → {type:"go", doc, m, interval, allClientIds, measure, latency, drainMs}
//            on document doc ("warmup" or "main") each client makes m changes
//            d.k[clientId] = i (i = 1..m), one every `interval` ms (0: all at
//            once), starting at a random offset within the first interval;
//            each watches its copy until every client's k is m (with drainMs,
//            at most that long after its own last change). With measure,
//            counters and CPU time start from zero. With latency (the
//            documents were set up with it), each change also pushes its
//            time onto d.t[clientId], and each client notes, for every other
//            client's change, how long after that time its copy held it.
//   worker → {type:"first", doc, clientId, at} once per client, at its first change
//   worker → {type:"converged", doc, clientId, at, lastChangeAt, all, delays}
//            once per client, when its copy holds every client's m-th change
//            (all) or drainMs passed; delays: the latencies in ms noted
//   parent → {type:"stats"}
//   worker → {type:"stats", counters, cpuUs} websocket messages and payload
//            bytes each client sent and received since "go", by message type,
//            and this process's CPU time since "go" in microseconds
//   parent → {type:"shutdown"}  (the worker also exits when the parent goes away)
//
// Times ("at") are epoch milliseconds with sub-millisecond resolution
// (performance.timeOrigin + performance.now()), comparable across processes.

import fs from "node:fs"
import path from "node:path"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const now = () => performance.timeOrigin + performance.now()
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** @type {{id: string, repo: Repo, adapter: WebSocketClientAdapter, counters: Counters}[]} */
let clients = []
let counting = false
let cpuAtGo = null

function send(message) {
  if (process.connected) process.send(message)
}

process.on("disconnect", () => process.exit(1))
process.on("uncaughtException", err => {
  send({ type: "error", message: String(err?.stack ?? err) })
  process.exit(1)
})
process.on("unhandledRejection", err => {
  send({ type: "error", message: String(err?.stack ?? err) })
  process.exit(1)
})

/**
 * Counters of one client's websocket traffic, by direction and message type.
 * @typedef {{sent: Record<string, {frames: number, bytes: number}>, received: Record<string, {frames: number, bytes: number}>}} Counters
 */
function newCounters() {
  return { sent: {}, received: {} }
}

function count(side, type, bytes) {
  const c = (side[type] ??= { frames: 0, bytes: 0 })
  c.frames++
  c.bytes += bytes
}

/**
 * A Repo with one websocket client adapter, the adapter's frames counted.
 * Clients have NodeFS storage when storageDir is given, like a browser client
 * with IndexedDB: the relay then sees a storageId and keeps sync state.
 */
function newClient(id, wsUrl, storageDir) {
  const adapter = new WebSocketClientAdapter(wsUrl)
  const client = { id, repo: undefined, adapter, counters: newCounters() }
  const originalSend = adapter.send.bind(adapter)
  adapter.send = message => {
    if (counting) {
      // Bytes counted are the payload (`data`, the Automerge sync message),
      // not the CBOR envelope around it.
      count(client.counters.sent, message.type, message.data?.byteLength ?? 0)
      if (process.env.BENCH_TRACE) console.error(`msg ${id} ${now().toFixed(0)} out ${message.type} ${message.data?.byteLength}`)
    }
    return originalSend(message)
  }
  adapter.on("message", message => {
    if (counting) count(client.counters.received, message.type, message.data?.byteLength ?? 0)
    if (counting && process.env.BENCH_TRACE) console.error(`msg ${id} ${now().toFixed(0)} in ${message.type} ${message.data?.byteLength}`)
  })
  let storage
  if (storageDir) {
    fs.mkdirSync(storageDir, { recursive: true })
    storage = new NodeFSStorageAdapter(storageDir)
  }
  client.repo = new Repo({ network: [adapter], storage, peerId: `bench-${id}-${process.pid}` })
  return client
}

async function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once predicate(handle.doc()) holds, checking on every change. */
function until(handle, predicate) {
  return new Promise(resolve => {
    const check = () => {
      if (predicate(handle.doc())) {
        handle.off("change", check)
        resolve()
        return true
      }
      return false
    }
    if (!check()) handle.on("change", check)
  })
}

async function setup({ wsUrl, preload, storageRoot, latency }) {
  const started = now()
  const writer = newClient("setup-writer", wsUrl, storageRoot && path.join(storageRoot, "setup-writer"))
  await connected(writer, 30_000)
  // With latency, each client's changes also push their time onto its list
  // in t, so that every other client learns, from the change itself, when
  // it was made.
  const extra = latency ? { t: {} } : {}
  const warmup = writer.repo.create({ k: {}, ...extra })
  const handle = writer.repo.create({ k: {}, pre: [], ...extra })
  // One change per list push. No waiting between changes: the client's
  // synchronizer coalesces them into sync messages (at most one per 100 ms).
  for (let i = 0; i < preload; i++) {
    handle.change(d => {
      d.pre.push(i)
    })
    if (i % 500 === 499) await new Promise(setImmediate)
  }
  // A second, storage-less client proves that the relay has everything.
  const deadline = Date.now() + 240_000
  await readBack(wsUrl, warmup.url, d => d.k !== undefined, deadline)
  await readBack(wsUrl, handle.url, d => d.k !== undefined && d.pre.length === preload, deadline)
  await writer.repo.flush()
  await writer.repo.shutdown()
  send({ type: "setup-done", url: handle.url, warmupUrl: warmup.url, setupMs: now() - started })
}

/** Finds url through the relay with a fresh client until predicate holds. */
async function readBack(wsUrl, url, predicate, deadline) {
  for (;;) {
    const reader = newClient("setup-reader", wsUrl, undefined)
    try {
      await connected(reader, 30_000)
      const handle = await withTimeout(reader.repo.find(url), 60_000, `finding ${url}`)
      await withTimeout(until(handle, predicate), Math.max(1, deadline - Date.now()), `reading ${url} back`)
      return
    } catch (err) {
      // The relay may not have the document yet (doc-unavailable): ask again.
      if (Date.now() > deadline) throw err
      await sleep(200)
    } finally {
      await reader.repo.shutdown().catch(() => {})
    }
  }
}

/** Per document ("main", "warmup"): client id → handle. */
const handles = { main: new Map(), warmup: new Map() }

/**
 * Resolves once the client's adapter has completed the handshake with the
 * relay. The stock client adapter declares itself ready after 1 s even
 * without an answer to its join, and a find issued then, with no peer, ends
 * "unavailable" at once; so we wait for the peer ourselves.
 */
async function connected(client, ms) {
  const deadline = Date.now() + ms
  while (client.repo.peers.length === 0) {
    if (Date.now() > deadline) throw new Error(`client ${client.id}: no handshake with the relay after ${ms} ms`)
    await sleep(10)
  }
}

async function join({ wsUrl, url, warmupUrl, clientIds, preload, storageRoot }) {
  clients = await Promise.all(
    clientIds.map(async id => {
      for (let attempt = 1; ; attempt++) {
        const c = newClient(id, wsUrl, storageRoot && path.join(storageRoot, id))
        try {
          await connected(c, 30_000)
          for (const [doc, docUrl, ready] of [
            ["warmup", warmupUrl, d => d.k !== undefined],
            ["main", url, d => d.k !== undefined && d.pre.length === preload],
          ]) {
            const handle = await withTimeout(c.repo.find(docUrl), 120_000, `client ${id} finding ${doc}`)
            await withTimeout(until(handle, ready), 120_000, `client ${id} loading ${doc}`)
            handles[doc].set(id, handle)
          }
          return c
        } catch (err) {
          await c.repo.shutdown().catch(() => {})
          if (attempt >= 3) throw err
          console.error(`client ${id}: ${err.message}; retrying`)
          await sleep(500)
        }
      }
    }),
  )
  send({ type: "joined" })
}

async function go({ doc, m, interval, allClientIds, measure, latency, drainMs }) {
  if (measure) {
    for (const c of clients) c.counters = newCounters()
    counting = true
    cpuAtGo = process.cpuUsage()
  }
  const converged = d => {
    const got = d.k
    for (const id of allClientIds) if (got[id] !== m) return false
    return true
  }
  await Promise.all(
    clients.map(async c => {
      const handle = handles[doc].get(c.id)
      const done = until(handle, converged)
      // Latency: the delay from each other client's change (its time, read
      // from the change) until this client's copy holds it.
      const delays = []
      if (latency) {
        const seen = new Map(allClientIds.filter(id => id !== c.id).map(id => [id, handle.doc().t?.[id]?.length ?? 0]))
        handle.on("change", ({ doc: d }) => {
          const at = now()
          for (const [id, n] of seen) {
            const times = d.t?.[id]
            if (!times || times.length <= n) continue
            for (let j = n; j < times.length; j++) delays.push(at - times[j])
            seen.set(id, times.length)
          }
        })
      }
      if (process.env.BENCH_TRACE) {
        const t0 = now()
        let last = -1
        handle.on("change", ({ doc: d }) => {
          const sum = Object.values(d.k).reduce((a, b) => a + b, 0)
          if (sum !== last) console.error(`trace ${c.id} ${(now() - t0).toFixed(0)} ${sum}`)
          last = sum
        })
      }
      let lastChangeAt = 0
      if (interval > 0) await sleep(Math.random() * interval)
      send({ type: "first", doc, clientId: c.id, at: now() })
      for (let i = 1; i <= m; i++) {
        handle.change(d => {
          d.k[c.id] = i
          if (latency) {
            if (!d.t[c.id]) d.t[c.id] = []
            d.t[c.id].push(now())
          }
        })
        lastChangeAt = now()
        if (interval > 0 && i < m) await sleep(interval)
      }
      // Bounded: a relay that falls behind leaves changes undelivered,
      // which the parent counts, rather than stalling the run.
      const all = await (drainMs ? Promise.race([done.then(() => true), sleep(drainMs).then(() => false)]) : done.then(() => true))
      send({ type: "converged", doc, clientId: c.id, at: now(), lastChangeAt, all, delays })
    }),
  )
}

process.on("message", async message => {
  try {
    switch (message.type) {
      case "setup":
        await setup(message)
        break
      case "join":
        await join(message)
        break
      case "go":
        await go(message)
        break
      case "stats":
        send({
          type: "stats",
          counters: Object.fromEntries(clients.map(c => [c.id, c.counters])),
          cpuUs: cpuAtGo ? Object.values(process.cpuUsage(cpuAtGo)).reduce((a, b) => a + b, 0) : 0,
        })
        break
      case "shutdown":
        counting = false
        await Promise.race([Promise.all(clients.map(c => c.repo.shutdown())), sleep(2000)])
        process.exit(0)
    }
  } catch (err) {
    send({ type: "error", message: String(err?.stack ?? err) })
    process.exit(1)
  }
})

send({ type: "hello" })
