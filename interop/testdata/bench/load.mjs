#!/usr/bin/env node
// Load benchmark: K stock automerge-repo clients edit one document through a
// relay, M changes each; we measure the relay process's own CPU time per
// change (from /proc/<pid>/stat), the wall time to convergence and its peak
// RSS, for veche and for the reference automerge-repo-sync-server wiring
// (reference-server.mjs) in the same run, and print the ratio.
//
//   node interop/testdata/bench/load.mjs --k 10 --m 50 [--preload 5000] [--relay-bin PATH]
//        [--targets veche,reference] [--interval 100] [--procs N]
//        [--repeat 1] [--ephemeral-clients] [--min-ratio X] [--timeout 300]
//
// Typing mode: --typists 8,16,32 runs, for each count, that many clients
// each making a change every 166 ms for --seconds, and also prints the
// delay from a change until each other client holds it (p50/p99).
//
// See README.md beside this file for what is measured and how.

import { execFileSync, fork, spawn } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { parseArgs } from "node:util"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, "..", "..", "..")
const workerPath = path.join(here, "client-worker.mjs")
const referencePath = path.join(here, "reference-server.mjs")

const usage = `usage: node interop/testdata/bench/load.mjs [options]
  --k N               clients (default 10)
  --m N               changes per client (default 50)
  --typists LIST      typing mode: one workload per count in LIST (e.g. 8,16,32) instead of
                      --k; each client makes a change every --interval ms (default 166) for
                      --seconds, and latency is measured
  --seconds S         typing mode: how long each client types (default 20); --m is ignored
  --drain S           typing mode: how long a client waits for the others' changes after
                      its own last one; what has not arrived by then counts as undelivered
                      (default 30)
  --latency           measure the delay from each change until each other client holds it
                      (implied by --typists): each change also pushes its time onto a list
  --preload N         changes already in the document before the measured phase (default 0)
  --targets LIST      comma-separated, of veche and reference (default veche,reference)
  --relay-bin PATH    veche binary (default: go build ./cmd/veche into a temp dir)
  --interval MS       pause between a client's changes; 0 = all at once (default 100;
                      166 with --typists)
  --procs N           client processes; clients are spread over them (default ceil(K/2))
  --repeat N          measured runs per target, interleaved; medians reported (default 1)
  --warmup N          unmeasured changes per client on a second document first (default 10)
  --ephemeral-clients clients without storage (default: each client has NodeFS storage,
                      like a browser client with IndexedDB, so it presents a storageId)
  --min-ratio X       exit 3 unless reference/veche CPU per change is at least X
  --timeout S         overall bound in seconds, after which everything is killed (default 300;
                      1800 with --typists)
  --keep              keep the temp directories (data, logs)
  --reference-node-args ARGS
                      extra node flags for the reference server, e.g. --reference-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
  --help`

const { values: opt } = parseArgs({
  options: {
    k: { type: "string", default: "10" },
    m: { type: "string", default: "50" },
    preload: { type: "string", default: "0" },
    targets: { type: "string", default: "veche,reference" },
    "relay-bin": { type: "string" },
    interval: { type: "string" },
    typists: { type: "string" },
    seconds: { type: "string", default: "20" },
    drain: { type: "string", default: "30" },
    latency: { type: "boolean", default: false },
    procs: { type: "string" },
    repeat: { type: "string", default: "1" },
    warmup: { type: "string", default: "10" },
    "ephemeral-clients": { type: "boolean", default: false },
    "min-ratio": { type: "string" },
    timeout: { type: "string" },
    keep: { type: "boolean", default: false },
    "reference-node-args": { type: "string", default: "" },
    help: { type: "boolean", default: false },
  },
})
if (opt.help) {
  console.log(usage)
  process.exit(0)
}

function intOpt(name, min) {
  const v = Number(opt[name])
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be an integer >= ${min}\n${usage}`)
    process.exit(2)
  }
  return v
}
const typing = opt.typists !== undefined
opt.interval ??= typing ? "166" : "100"
opt.timeout ??= typing ? "1800" : "300"
const P = intOpt("preload", 0)
const interval = intOpt("interval", 0)
const repeat = intOpt("repeat", 1)
const warmup = intOpt("warmup", 0)
const timeoutS = intOpt("timeout", 1)
const latency = typing || opt.latency
const drainMs = typing ? intOpt("drain", 1) * 1000 : undefined
/** The workloads to run: K clients making M changes each, over procs processes. */
const workloads = (typing ? opt.typists.split(",") : [opt.k]).map(k => {
  const K = Number(k)
  if (!Number.isInteger(K) || K < (typing ? 2 : 1)) {
    console.error(`${typing ? "--typists" : "--k"}: ${JSON.stringify(k)} is not a client count\n${usage}`)
    process.exit(2)
  }
  const M = typing ? Math.max(1, Math.ceil((intOpt("seconds", 1) * 1000) / Math.max(1, interval))) : intOpt("m", 1)
  const procs = Math.min(K, opt.procs === undefined ? Math.ceil(K / 2) : intOpt("procs", 1))
  return { K, M, procs }
})
const minRatio = opt["min-ratio"] === undefined ? undefined : Number(opt["min-ratio"])
const targets = opt.targets.split(",").map(s => s.trim()).filter(Boolean)
for (const t of targets) {
  if (t !== "veche" && t !== "reference") {
    console.error(`unknown target ${JSON.stringify(t)}\n${usage}`)
    process.exit(2)
  }
}
const clientStorage = !opt["ephemeral-clients"]
if (!fs.existsSync("/proc/self/stat")) {
  console.error("load: needs Linux /proc to read the relay's CPU time and memory")
  process.exit(2)
}
const referenceNodeArgs = opt["reference-node-args"].split(" ").filter(Boolean)

// ---------------------------------------------------------------------------
// Process bookkeeping: everything we start is killed when we exit.

/** @type {Set<import("node:child_process").ChildProcess>} */
const children = new Set()
/** @type {Set<string>} */
const tempDirs = new Set()

function killAll(signal = "SIGKILL") {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal)
      } catch {
        // already gone
      }
    }
  }
}

process.on("exit", () => {
  killAll()
  if (!opt.keep) for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true })
})
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`load: ${sig}, killing children`)
    process.exit(130)
  })
}

function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

const log = (...args) => console.error("load:", ...args)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const now = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------
// /proc

let clockTicks = 100
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
} catch {
  // keep the usual 100
}

/**
 * utime+stime of the whole process (all threads) and of its descendants —
 * veche's sandbox workers are child processes doing part of its work —
 * living (their own stat) or reaped (cutime+cstime), in clock ticks.
 */
function cpuTicks(pid) {
  let ticks = 0
  for (const p of processTree(pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8")
      // The command name (field 2) may contain spaces; fields after it are plain.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields 14-17 of proc(5): utime, stime, cutime, cstime
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
    } catch {
      // it exited meanwhile: its parent's cutime counts it once reaped
    }
  }
  return ticks
}

/** pid and every living descendant of it. */
function processTree(pid) {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    let tasks = []
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`)
    } catch {
      continue
    }
    for (const tid of tasks) {
      try {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, "utf8").trim()
        if (kids) out.push(...kids.split(/\s+/).map(Number))
      } catch {
        // gone
      }
    }
  }
  return out
}

/** Busy clock ticks of the whole machine (all CPUs), from /proc/stat. */
function machineBusyTicks() {
  const [user, nice, system, , , irq, softirq, steal] = fs
    .readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  return user + nice + system + irq + softirq + (steal || 0)
}

/** VmHWM and VmRSS in KiB, summed over the process and its descendants. */
function memory(pid) {
  let hwmKiB = 0
  let rssKiB = 0
  for (const p of processTree(pid)) {
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, "utf8")
      const kib = name => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0)
      hwmKiB += kib("VmHWM")
      rssKiB += kib("VmRSS")
    } catch {
      // gone
    }
  }
  return { hwmKiB, rssKiB }
}

/**
 * Waits until the process has used no CPU for `quietMs` (sampled every 100
 * ms), at most `maxMs`, so that work still under way (throttled saves,
 * trailing sync rounds) is counted in the phase that caused it.
 */
async function quiesce(pid, quietMs = 300, maxMs = 5000) {
  const start = Date.now()
  let last = cpuTicks(pid)
  let quietSince = Date.now()
  while (Date.now() - start < maxMs) {
    await sleep(100)
    const t = cpuTicks(pid)
    if (t !== last) {
      last = t
      quietSince = Date.now()
    } else if (Date.now() - quietSince >= quietMs) {
      return { ticks: t, quiet: true }
    }
  }
  return { ticks: last, quiet: false }
}

// ---------------------------------------------------------------------------
// Servers

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function buildVeche() {
  const dir = tempDir("veche-bench-bin-")
  const bin = path.join(dir, "veche")
  log(`building veche: go build -o ${bin} ./cmd/veche`)
  const started = Date.now()
  await new Promise((resolve, reject) => {
    const child = spawn("go", ["build", "-o", bin, "./cmd/veche"], {
      cwd: repoRoot,
      stdio: ["ignore", "inherit", "inherit"],
    })
    children.add(child)
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000)
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      if (code === 0) resolve()
      else reject(new Error(`go build ./cmd/veche failed (${signal ?? `exit ${code}`})`))
    })
  })
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return bin
}

async function startServer(target, runDir, vecheBin) {
  const port = await freePort()
  const dataDir = path.join(runDir, "data")
  fs.mkdirSync(dataDir, { recursive: true })
  const logPath = path.join(runDir, `${target}.log`)
  const logFd = fs.openSync(logPath, "a")
  const [cmd, args] =
    target === "veche"
      ? [vecheBin, ["serve", "--anonymous", "--addr", `127.0.0.1:${port}`, "--data", dataDir]]
      : [process.execPath, [...referenceNodeArgs, referencePath, "--port", String(port), "--data", dataDir]]
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ["ignore", logFd, logFd] })
  fs.closeSync(logFd)
  children.add(child)
  let exited = null
  child.on("exit", (code, signal) => (exited = signal ?? `exit ${code}`))
  child.on("error", err => (exited = String(err)))
  const server = { target, child, pid: child.pid, port, dataDir, logPath, exited: () => exited }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (exited) throw new Error(`${target} server ended before it was healthy (${exited})${logTail(logPath)}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${target} server not healthy after 30 s${logTail(logPath)}`)
    await sleep(50)
  }
  return server
}

async function stopServer(server) {
  const { child } = server
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill("SIGTERM")
  const gone = new Promise(resolve => child.once("exit", resolve))
  if ((await Promise.race([gone.then(() => true), sleep(5000).then(() => false)])) === false) {
    child.kill("SIGKILL")
    await gone
  }
  children.delete(child)
}

function logTail(logPath, lines = 20) {
  try {
    const text = fs.readFileSync(logPath, "utf8").trimEnd()
    if (!text) return ""
    return `\n--- last lines of ${logPath}:\n${text.split("\n").slice(-lines).join("\n")}`
  } catch {
    return ""
  }
}

// ---------------------------------------------------------------------------
// Client workers

/**
 * A forked client-worker.mjs. `next(type)` resolves with the next message of
 * that type; an error message or an unexpected exit fails the run.
 */
function startWorker(name, run) {
  const child = fork(workerPath, [], { stdio: ["ignore", 2, 2, "ipc"], cwd: here })
  children.add(child)
  const queues = new Map() // type -> messages not yet taken
  const waiters = new Map() // type -> resolvers
  const handlers = new Map() // type -> callback for streamed messages
  let stopping = false
  child.on("message", msg => {
    if (msg.type === "error") {
      run.fail(new Error(`client worker ${name}: ${msg.message}`))
      return
    }
    const handler = handlers.get(msg.type)
    if (handler) {
      handler(msg)
      return
    }
    const waiting = waiters.get(msg.type)
    if (waiting?.length) waiting.shift()(msg)
    else queues.set(msg.type, [...(queues.get(msg.type) ?? []), msg])
  })
  child.on("exit", (code, signal) => {
    children.delete(child)
    if (!stopping) run.fail(new Error(`client worker ${name} exited (${signal ?? `exit ${code}`})`))
  })
  return {
    name,
    send: msg => child.send(msg),
    on: (type, fn) => handlers.set(type, fn),
    next: type =>
      new Promise(resolve => {
        const queued = queues.get(type)
        if (queued?.length) resolve(queued.shift())
        else waiters.set(type, [...(waiters.get(type) ?? []), resolve])
      }),
    async stop() {
      stopping = true
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = new Promise(resolve => child.once("exit", resolve))
      try {
        child.send({ type: "shutdown" })
      } catch {
        // channel already closed
      }
      if ((await Promise.race([gone.then(() => true), sleep(3000).then(() => false)])) === false) {
        child.kill("SIGKILL")
        await gone
      }
    },
  }
}

// ---------------------------------------------------------------------------
// One measured run against one target.

async function measure(target, vecheBin, index, { K, M, procs }) {
  const runDir = tempDir(`veche-bench-${target}-`)
  let failWith
  const failed = new Promise((_, reject) => (failWith = reject))
  failed.catch(() => {})
  const run = { fail: err => failWith(err) }
  /** Awaits p, failing early on a worker/server failure or after ms. */
  const step = (what, p, ms) =>
    Promise.race([
      p,
      failed,
      sleep(ms).then(() => {
        throw new Error(`${target}: ${what} did not finish within ${ms / 1000} s`)
      }),
    ])
  const workers = []
  let server
  try {
    server = await startServer(target, runDir, vecheBin)
    const serverWatch = setInterval(() => {
      if (server.exited()) run.fail(new Error(`${target} server died (${server.exited()})${logTail(server.logPath)}`))
    }, 200)
    try {
      const wsUrl = `ws://127.0.0.1:${server.port}/sync`
      const storageRoot = clientStorage ? path.join(runDir, "clients") : undefined

      // Setup, not measured: create the document and preload it.
      const setupWorker = startWorker("setup", run)
      workers.push(setupWorker)
      await step("starting the setup worker", setupWorker.next("hello"), 30_000)
      setupWorker.send({ type: "setup", wsUrl, preload: P, storageRoot, latency })
      const { url, warmupUrl, setupMs } = await step(`setup (create + ${P} preload changes)`, setupWorker.next("setup-done"), 240_000)
      await setupWorker.stop()
      log(`${target}: document ${url} ready with ${P} preload changes in ${(setupMs / 1000).toFixed(1)} s`)

      // Join: K clients find the document. Measured separately.
      const q0 = await quiesce(server.pid)
      const clientIds = Array.from({ length: K }, (_, i) => `c${i}`)
      const groups = Array.from({ length: procs }, (_, w) => clientIds.filter((_, i) => i % procs === w))
      for (let w = 0; w < procs; w++) workers.push(startWorker(`w${w}`, run))
      const measuredWorkers = workers.slice(1)
      await step("starting client workers", Promise.all(measuredWorkers.map(w => w.next("hello"))), 30_000)
      const joinStart = now()
      measuredWorkers.forEach((w, i) =>
        w.send({ type: "join", wsUrl, url, warmupUrl, clientIds: groups[i], preload: P, storageRoot }),
      )
      await step(`${K} clients finding the document`, Promise.all(measuredWorkers.map(w => w.next("joined"))), 120_000)
      const joinMs = now() - joinStart

      /** Every client makes m changes to doc; resolves when all have converged. */
      const changeRound = async (doc, m, measure) => {
        const firsts = []
        const converged = []
        let allConverged
        const allDone = new Promise(resolve => (allConverged = resolve))
        for (const w of measuredWorkers) {
          w.on("first", msg => firsts.push(msg.at))
          w.on("converged", msg => {
            converged.push(msg)
            if (converged.length === K) allConverged()
          })
        }
        const goAt = now()
        measuredWorkers.forEach(w =>
          w.send({ type: "go", doc, m, interval, allClientIds: clientIds, measure, latency, drainMs }),
        )
        await step(`convergence of ${K * m} changes (${doc})`, allDone, 120_000 + m * interval * 2)
        return { goAt, firsts, converged }
      }

      // Warm-up, not measured: the same kind of round on another document,
      // so that neither relay is measured while its JIT/caches are cold.
      if (warmup > 0) await changeRound("warmup", warmup, false)

      // Measured phase: K*M changes until every client has all of them.
      const q1 = await quiesce(server.pid)
      const cpuStart = q1.ticks
      const machineStart = machineBusyTicks()
      const { goAt, firsts, converged } = await changeRound("main", M, true)
      const q2 = await quiesce(server.pid)
      const mem = memory(server.pid)

      measuredWorkers.forEach(w => w.send({ type: "stats" }))
      const stats = await step("collecting client counters", Promise.all(measuredWorkers.map(w => w.next("stats"))), 10_000)
      const machineS = (machineBusyTicks() - machineStart) / clockTicks
      const relayToStatsS = (cpuTicks(server.pid) - cpuStart) / clockTicks
      const traffic = { toRelay: {}, fromRelay: {} }
      const clientsCpuS = stats.reduce((a, s) => a + s.cpuUs, 0) / 1e6
      for (const { counters } of stats) {
        for (const c of Object.values(counters)) {
          addCounts(traffic.toRelay, c.sent)
          addCounts(traffic.fromRelay, c.received)
        }
      }

      const changes = K * M
      const firstAt = Math.min(...firsts)
      const convergedAt = Math.max(...converged.map(c => c.at))
      const lastChangeAt = Math.max(...converged.map(c => c.lastChangeAt))
      const cpuS = (q2.ticks - cpuStart) / clockTicks
      // Every change is owed to the K-1 other clients; what never arrived
      // (within --drain) counts as infinitely late.
      const delays = converged.flatMap(c => c.delays ?? [])
      const owed = K * (K - 1) * M
      const undelivered = latency ? Math.max(0, owed - delays.length) : 0
      delays.sort((a, b) => a - b)
      const quantile = q => {
        if (!latency) return null
        const i = Math.ceil(q * owed) - 1
        return i < delays.length ? delays[Math.max(0, i)] : Infinity
      }
      return {
        target,
        k: K,
        m: M,
        run: index,
        changes,
        latencyP50Ms: quantile(0.5),
        latencyP99Ms: quantile(0.99),
        latencyMaxMs: latency ? (undelivered ? Infinity : delays[delays.length - 1]) : null,
        undelivered,
        converged: converged.every(c => c.all !== false),
        cpuS,
        cpuMsPerChange: (cpuS * 1000) / changes,
        joinCpuS: (q1.ticks - q0.ticks) / clockTicks, // includes the warm-up
        clientsCpuS,
        // CPU the rest of the machine used meanwhile: other work skews wall times.
        otherCpuS: Math.max(0, machineS - relayToStatsS - clientsCpuS),
        joinMs,
        wallMs: convergedAt - firstAt,
        lagMs: convergedAt - lastChangeAt,
        startSkewMs: firstAt - goAt,
        peakRssMiB: mem.hwmKiB / 1024,
        rssMiB: mem.rssKiB / 1024,
        quiet: q1.quiet && q2.quiet,
        traffic,
        msgsToRelayPerChange: total(traffic.toRelay).frames / changes,
        msgsFromRelayPerChange: total(traffic.fromRelay).frames / changes,
        bytesToRelayPerChange: total(traffic.toRelay).bytes / changes,
        bytesFromRelayPerChange: total(traffic.fromRelay).bytes / changes,
      }
    } finally {
      clearInterval(serverWatch)
    }
  } finally {
    await Promise.all(workers.map(w => w.stop()))
    if (server) await stopServer(server)
    if (!opt.keep) {
      fs.rmSync(runDir, { recursive: true, force: true })
      tempDirs.delete(runDir)
    }
  }
}

function addCounts(into, from) {
  for (const [type, c] of Object.entries(from)) {
    const t = (into[type] ??= { frames: 0, bytes: 0 })
    t.frames += c.frames
    t.bytes += c.bytes
  }
}

function total(byType) {
  return Object.values(byType).reduce((a, c) => ({ frames: a.frames + c.frames, bytes: a.bytes + c.bytes }), {
    frames: 0,
    bytes: 0,
  })
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

// ---------------------------------------------------------------------------
// Report

function table(rows) {
  return grid(
    [
      ["target", r => r.target],
      ["K", r => String(r.k)],
      ["run", r => String(r.run)],
      ["changes", r => String(r.changes)],
      ["CPU s", r => r.cpuS.toFixed(2)],
      ["CPU ms/change", r => r.cpuMsPerChange.toFixed(3)],
      ["join+warm CPU s", r => r.joinCpuS.toFixed(2)],
      ["clients CPU s", r => r.clientsCpuS.toFixed(2)],
      ["other CPU s", r => r.otherCpuS.toFixed(2)],
      ["wall s", r => (r.wallMs / 1000).toFixed(2)],
      ["lag ms", r => r.lagMs.toFixed(0)],
      ...(latency
        ? [
            ["p50 ms", r => ms(r.latencyP50Ms)],
            ["p99 ms", r => ms(r.latencyP99Ms)],
            ["undelivered", r => String(r.undelivered)],
          ]
        : []),
      ["peak RSS MiB", r => r.peakRssMiB.toFixed(1)],
      ["RSS MiB", r => r.rssMiB.toFixed(1)],
      ["msgs in/change", r => r.msgsToRelayPerChange.toFixed(2)],
      ["msgs out/change", r => r.msgsFromRelayPerChange.toFixed(2)],
      ["B in/change", r => r.bytesToRelayPerChange.toFixed(0)],
      ["B out/change", r => r.bytesFromRelayPerChange.toFixed(0)],
    ],
    rows,
  )
}

/** rows as a text table with the given columns ([heading, cell function]). */
function grid(cols, rows) {
  const cells = [cols.map(c => c[0]), ...rows.map(r => cols.map(c => c[1](r)))]
  const widths = cols.map((_, i) => Math.max(...cells.map(row => row[i].length)))
  return cells
    .map((row, j) => {
      const line = row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ")
      return j === 0 ? `${line}\n${widths.map(w => "-".repeat(w)).join("  ")}` : line
    })
    .join("\n")
}

// ---------------------------------------------------------------------------
// Main

let overall

function startOverallTimeout() {
  overall = setTimeout(() => {
    console.error(`load: FAILED: overall timeout of ${timeoutS} s reached; killing everything`)
    process.exit(124)
  }, timeoutS * 1000)
}

async function main() {
  let vecheBin = opt["relay-bin"] ? path.resolve(opt["relay-bin"]) : undefined
  const errors = {}
  if (targets.includes("veche") && !vecheBin) {
    try {
      vecheBin = await buildVeche() // bounded on its own (10 min), before the clock starts
    } catch (err) {
      errors.veche = String(err.message ?? err)
      log(`veche: ${errors.veche}`)
    }
  }
  startOverallTimeout()
  const label = (target, w) => (typing ? `${target} K=${w.K}` : target)
  for (const w of workloads) {
    log(
      `K=${w.K} clients in ${w.procs} processes, M=${w.M} changes each every ${interval} ms, preload ${P}, warm-up ${warmup}, ` +
        `client storage ${clientStorage ? "on" : "off"}, latency ${latency ? "on" : "off"}, CLK_TCK ${clockTicks}, ${os.cpus().length} CPUs`,
    )
  }
  const rows = []
  for (let i = 1; i <= repeat; i++) {
    for (const w of workloads) {
      for (const target of targets) {
        if (errors[target] || errors[label(target, w)]) continue
        log(`${label(target, w)}: run ${i}/${repeat}`)
        try {
          const r = await measure(target, vecheBin, i, w)
          rows.push(r)
          log(
            `${label(target, w)}: ${r.cpuS.toFixed(2)} CPU s for ${r.changes} changes = ${r.cpuMsPerChange.toFixed(3)} ms/change, ` +
              `converged in ${(r.wallMs / 1000).toFixed(2)} s, peak RSS ${r.peakRssMiB.toFixed(1)} MiB` +
              (latency ? `, latency p50 ${ms(r.latencyP50Ms)} p99 ${ms(r.latencyP99Ms)} ms, ${r.undelivered} undelivered` : ""),
          )
        } catch (err) {
          errors[label(target, w)] = String(err.message ?? err)
          log(`${label(target, w)}: FAILED: ${errors[label(target, w)]}`)
        }
      }
    }
  }

  const results = workloads.map(w => {
    const summary = {}
    for (const target of targets) {
      const rs = rows.filter(r => r.target === target && r.k === w.K)
      if (!rs.length) continue
      summary[target] = {
        runs: rs.length,
        cpuS: median(rs.map(r => r.cpuS)),
        cpuMsPerChange: median(rs.map(r => r.cpuMsPerChange)),
        joinCpuS: median(rs.map(r => r.joinCpuS)),
        clientsCpuS: median(rs.map(r => r.clientsCpuS)),
        otherCpuS: median(rs.map(r => r.otherCpuS)),
        wallMs: median(rs.map(r => r.wallMs)),
        lagMs: median(rs.map(r => r.lagMs)),
        peakRssMiB: Math.max(...rs.map(r => r.peakRssMiB)),
        msgsToRelayPerChange: median(rs.map(r => r.msgsToRelayPerChange)),
        msgsFromRelayPerChange: median(rs.map(r => r.msgsFromRelayPerChange)),
        bytesToRelayPerChange: median(rs.map(r => r.bytesToRelayPerChange)),
        bytesFromRelayPerChange: median(rs.map(r => r.bytesFromRelayPerChange)),
        ...(latency && {
          latencyP50Ms: median(rs.map(r => r.latencyP50Ms)),
          latencyP99Ms: median(rs.map(r => r.latencyP99Ms)),
          undelivered: median(rs.map(r => r.undelivered)),
        }),
        trafficByType: rs[rs.length - 1].traffic,
      }
    }
    const ratio =
      summary.veche && summary.reference ? summary.reference.cpuMsPerChange / summary.veche.cpuMsPerChange : null
    return { ...w, summary, ratio }
  })

  for (const w of workloads) {
    console.log(
      `\nK=${w.K} M=${w.M} preload=${P} warmup=${warmup} interval=${interval}ms procs=${w.procs} clientStorage=${clientStorage} ` +
        `(CPU: relay process and its children (sandbox workers), utime+stime during the measured phase; msgs in/out: frames to/from the relay)`,
    )
    const rs = rows.filter(r => r.k === w.K)
    if (rs.length) console.log(table(rs))
  }
  for (const [target, message] of Object.entries(errors)) console.log(`${target}: FAILED: ${message}`)
  if (latency) {
    console.log(
      `\nLatency: from a change (its time, carried in the change) until each other client's copy holds it; ` +
        `undelivered (not there ${drainMs ? `${drainMs / 1000} s after the receiver's last change` : "at convergence"}) counts as infinite` +
        (repeat > 1 ? `; medians of ${repeat} runs` : ""),
    )
    const lrows = results.flatMap(w =>
      targets
        .filter(t => w.summary[t])
        .map(t => ({
          k: w.K,
          target: t,
          s: w.summary[t],
          ratio: t === "veche" && w.ratio !== null ? `${w.ratio.toFixed(2)}x` : "",
        })),
    )
    console.log(
      grid(
        [
          ["clients", r => String(r.k)],
          ["target", r => r.target],
          ["changes/s", r => ((r.k * 1000) / interval).toFixed(0)],
          ["p50 ms", r => ms(r.s.latencyP50Ms)],
          ["p99 ms", r => ms(r.s.latencyP99Ms)],
          ["undelivered", r => String(r.s.undelivered)],
          ["CPU ms/change", r => r.s.cpuMsPerChange.toFixed(3)],
          ["ref/veche CPU", r => r.ratio],
          ["clients CPU s", r => r.s.clientsCpuS.toFixed(1)],
          ["other CPU s", r => r.s.otherCpuS.toFixed(1)],
        ],
        lrows,
      ),
    )
  }
  for (const w of results) {
    if (w.ratio === null) continue
    console.log(
      `\n${typing ? `K=${w.K}: ` : ""}CPU per change, reference / veche: ${w.ratio.toFixed(2)}x` +
        (repeat > 1 ? ` (medians of ${repeat} runs)` : "") +
        (minRatio !== undefined ? `; required >= ${minRatio}x: ${w.ratio >= minRatio ? "met" : "NOT met"}` : ""),
    )
  }
  if (rows.some(r => r.otherCpuS > 0.1 * (r.wallMs / 1000) * os.cpus().length)) {
    console.log(
      "note: other processes used over 10% of the machine during a measured phase (\"other CPU s\"); " +
        "wall times are skewed, CPU per change less so",
    )
  }
  if (rows.some(r => !r.quiet)) {
    console.log("note: a relay did not go quiet within 5 s around a measured phase; its CPU figures include idle-loop work")
  }
  const single = results.length === 1 ? results[0] : null
  console.log(
    JSON.stringify({
      ...(single ? { k: single.K, m: single.M, procs: single.procs } : { typists: workloads.map(w => w.K), m: workloads[0].M }),
      preload: P,
      intervalMs: interval,
      warmup,
      clientStorage,
      latency,
      drainMs: drainMs ?? null,
      clockTicks,
      cpus: os.cpus().length,
      ...(single ? { summary: single.summary, ratioCpuPerChange: single.ratio } : {}),
      workloads: results,
      minRatio: minRatio ?? null,
      errors,
      runs: rows.map(({ traffic, ...r }) => r),
    }),
  )
  if (Object.keys(errors).length) return 1
  if (minRatio !== undefined && results.some(w => w.ratio === null || w.ratio < minRatio)) return 3
  return 0
}

/** A latency in ms for a table: whole ms, or "never" for an undelivered change. */
function ms(v) {
  if (v === null || v === undefined) return "-"
  return Number.isFinite(v) ? v.toFixed(0) : "never"
}

main().then(
  code => {
    clearTimeout(overall)
    process.exit(code)
  },
  err => {
    console.error(`load: FAILED: ${err?.stack ?? err}`)
    process.exit(1)
  },
)
