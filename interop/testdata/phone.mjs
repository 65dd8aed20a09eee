// A phone on a thin link, for the emulated-link tests and benchmark in
// ../thinlink_test.go. One stock automerge-repo Repo with the stock
// websocket client adapter, run in one of two modes, printing JSON lines:
//
//   seed  --relay URL --changes N [--kind council|text] [--text-bytes B]
//         Builds a council document of N changes (council: votes and a
//         tally, a field each; text: B random characters appended per
//         change), imports it into the
//         repo, waits until the relay advertises its heads, and prints
//         {event:"seeded", url, heads, changes, saveBytes}.
//
//   join  --relay URL --url automerge:… --heads h1,h2… [--storage DIR]
//         A new phone: once connected, finds the document and waits until
//         it holds heads, over as many connections as the link takes, and
//         prints {event:"joined", ms, connects, saveBytes}. Progress lines
//         {event:"progress", ms, heads} whenever the copy grows.
//
//   edit  --relay URL --url automerge:… --changes N --name NAME --phones P
//         A phone that goes offline: finds the document and prints
//         {event:"found"}; on a line on stdin (the link is down by then)
//         makes N changes (to the list "log-<name>") and prints "edited";
//         then waits until it holds the N changes of all P phones and
//         prints {event:"converged", ms}.
//
// Options: --retry-ms N (the adapter redial interval; default 5000, the
// stock default: the adapter abandons a socket still opening after it,
// and an upgrade over 2G takes a second or more), --timeout-ms
// N (give up, exit 3, default 600000).

import { die, emit, intOption, sleep } from "./common.mjs"
import { parseArgs } from "node:util"
import crypto from "node:crypto"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    relay: { type: "string" },
    changes: { type: "string", default: "1000" },
    kind: { type: "string", default: "council" },
    "text-bytes": { type: "string", default: "100" },
    url: { type: "string" },
    heads: { type: "string", default: "" },
    storage: { type: "string" },
    name: { type: "string", default: "phone" },
    phones: { type: "string", default: "1" },
    "retry-ms": { type: "string", default: "5000" },
    "timeout-ms": { type: "string", default: "600000" },
  },
})
const mode = positionals[0]
if (!opts.relay) die("--relay ws://HOST:PORT/sync is required")
const timeoutMs = intOption(opts["timeout-ms"], "timeout-ms")
setTimeout(() => die(`no result within ${timeoutMs} ms`, 3), timeoutMs).unref()

const transient = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"])
process.on("uncaughtException", err => {
  if (transient.has(err?.code) || /socket hang up|closed before the connection|Unexpected server response/.test(err?.message)) {
    emit({ event: "network-error", message: String(err?.message ?? err) })
    return
  }
  die(`uncaught: ${err?.stack ?? err}`)
})
process.on("unhandledRejection", err => die(`unhandled rejection: ${err?.stack ?? err}`))

const adapter = new WebSocketClientAdapter(opts.relay, intOption(opts["retry-ms"], "retry-ms"))
let connects = 0
adapter.on("peer-candidate", () => {
  connects++
  emit({ event: "connected", connects })
})
adapter.on("peer-disconnected", () => emit({ event: "disconnected" }))
const relayHeads = new Map()
adapter.on("message", m => {
  if ((m.type === "sync" || m.type === "request") && m.data) {
    try {
      relayHeads.set(m.documentId, A.decodeSyncMessage(m.data).heads)
    } catch {}
  }
})
const repo = new Repo({
  network: [adapter],
  storage: opts.storage ? new NodeFSStorageAdapter(opts.storage) : undefined,
  peerId: `${opts.name}-${crypto.randomBytes(4).toString("hex")}`,
})

const started = performance.now()
const ms = () => Math.round(performance.now() - started)
const sorted = hs => [...hs].sort()
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))

// councilChange is one small act, as phones make them: a vote by one of 40
// members on one of 25 proposals, or the council's running tally. A
// thousand of them save in about 5 KB, as the councils in issue 8 did.
function councilChange(doc, i) {
  if (i % 2) doc.votes[`p${i % 25}m${i % 40}`] = i % 3 ? "yes" : "no"
  else doc.tally = i
}

function randomText(n) {
  return crypto.randomBytes(n).toString("base64").slice(0, n)
}

async function seed() {
  const n = intOption(opts.changes, "changes")
  const textBytes = intOption(opts["text-bytes"], "text-bytes")
  let doc = A.from({ council: { name: "Upper valley growers" }, votes: {}, tally: 0, notes: [] })
  for (let i = 0; i < n; i++) {
    doc = A.change(doc, d => (opts.kind === "text" ? d.notes.push(randomText(textBytes)) : councilChange(d, i)))
  }
  const saved = A.save(doc)
  const handle = repo.import(saved)
  const heads = A.getHeads(handle.doc())
  for (;;) {
    const rh = relayHeads.get(handle.documentId)
    if (rh && same(rh, heads)) break
    await sleep(20)
  }
  emit({ event: "seeded", url: handle.url, heads, changes: n + 1, saveBytes: saved.length, ms: ms() })
}

// connected resolves once the adapter has a relay peer.
function connected() {
  if (connects > 0) return Promise.resolve()
  return new Promise(resolve => adapter.once("peer-candidate", () => resolve()))
}

// find returns the handle of url as soon as the repo has one, ready or
// not: a new phone on a thin link is told "unavailable" when its link
// drops before the answer, and becomes ready when the document arrives
// over a later connection.
async function find(url) {
  await connected()
  return repo.find(url, { allowableStates: ["ready", "unavailable"], signal: AbortSignal.timeout(timeoutMs) })
}

async function join() {
  const want = opts.heads.split(",").filter(Boolean)
  if (!opts.url || want.length === 0) die("join needs --url and --heads")
  const handle = await find(opts.url)
  let last = ""
  for (;;) {
    if (handle.isReady()) {
      const heads = A.getHeads(handle.doc())
      if (JSON.stringify(heads) !== last) {
        last = JSON.stringify(heads)
        emit({ event: "progress", ms: ms(), heads: heads.length })
      }
      if (A.hasHeads(handle.doc(), want)) break
    }
    await sleep(50)
  }
  emit({ event: "joined", ms: ms(), connects, saveBytes: A.save(handle.doc()).length })
}

async function edit() {
  const n = intOption(opts.changes, "changes")
  const phones = intOption(opts.phones, "phones")
  const handle = await find(opts.url)
  while (!handle.isReady()) await sleep(50)
  emit({ event: "found", ms: ms() })
  await new Promise(resolve => process.stdin.once("data", resolve))
  const key = `log-${opts.name}`
  for (let i = 0; i < n; i++) {
    handle.change(d => {
      if (!d[key]) d[key] = []
      d[key].push(`${opts.name}-${i}`)
    })
  }
  emit({ event: "edited", ms: ms() })
  for (;;) {
    const d = handle.doc()
    const logs = Object.keys(d).filter(k => k.startsWith("log-") && d[k].length === n)
    if (logs.length >= phones) break
    await sleep(100)
  }
  emit({ event: "converged", ms: ms(), heads: A.getHeads(handle.doc()) })
}

const modes = { seed, join, edit }
if (!modes[mode]) die(`mode ${mode}: want seed, join or edit`)
await modes[mode]()
process.exit(0)
