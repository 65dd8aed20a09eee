// Reads and writes veche .bundle files with stock @automerge/automerge, as
// the web app will: the format is documented in server/bundle/doc.go.
// Driven by the Go test interop/bundlefile_test.go.
//
//   node bundle.mjs read FILE
//       checks the header (format, size, sha256), loads the changes into an
//       empty document and prints {council, count, heads} as one JSON line
//   node bundle.mjs extend FILE OUT KEY VALUE
//       loads FILE (a whole council), sets KEY to VALUE at the root as one
//       change, and writes to OUT the bundle of that change (before: the
//       heads of FILE), printing {heads} as one JSON line
import fs from "node:fs"
import crypto from "node:crypto"
import * as A from "@automerge/automerge"

const FORMAT = "veche-bundle/1"

function fail(msg) {
  process.stderr.write(`bundle.mjs: ${msg}\n`)
  process.exit(2)
}

function readBundle(file) {
  const raw = fs.readFileSync(file)
  const nl = raw.indexOf(10)
  if (nl < 0) fail("no header line")
  const header = JSON.parse(raw.subarray(0, nl).toString("utf8"))
  if (header.format !== FORMAT) fail(`format ${header.format}`)
  const payload = raw.subarray(nl + 1)
  if (payload.length !== header.size) fail(`size ${payload.length}, header says ${header.size}`)
  const sum = crypto.createHash("sha256").update(payload).digest("hex")
  if (sum !== header.sha256) fail("checksum mismatch")
  return { header, payload: new Uint8Array(payload) }
}

function writeBundle(out, council, before, after, changes) {
  const payload = Buffer.concat(changes.map(c => Buffer.from(c)))
  const header = {
    format: FORMAT, council, before, after, count: changes.length, size: payload.length,
    sha256: crypto.createHash("sha256").update(payload).digest("hex"),
    created: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z"),
  }
  fs.writeFileSync(out, Buffer.concat([Buffer.from(JSON.stringify(header) + "\n"), payload]))
}

const [mode, file, ...rest] = process.argv.slice(2)
switch (mode) {
  case "read": {
    const { header, payload } = readBundle(file)
    const doc = A.loadIncremental(A.init(), payload)
    console.log(JSON.stringify({ council: header.council, count: header.count, heads: A.getHeads(doc) }))
    break
  }
  case "extend": {
    const [out, key, value] = rest
    const { header, payload } = readBundle(file)
    const doc = A.loadIncremental(A.init(), payload)
    const before = A.getHeads(doc)
    const next = A.change(doc, d => { d[key] = value })
    const changes = A.getChanges(doc, next)
    writeBundle(out, header.council, before, A.getHeads(next), changes)
    console.log(JSON.stringify({ heads: A.getHeads(next) }))
    break
  }
  default:
    fail("usage: node bundle.mjs read FILE | extend FILE OUT KEY VALUE")
}
