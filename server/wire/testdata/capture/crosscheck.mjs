// crosscheck.mjs checks that frames re-encoded by the Go package wire read
// back in cbor-x (through automerge-repo's own cbor helper) as the same
// objects as the frames upstream sent.
//
//	go test ./server/wire/ -run TestCapturedFramesRoundTrip -reencode=/tmp/reencoded
//	node crosscheck.mjs ../frames /tmp/reencoded
//
// Properties whose value is undefined count as absent: Go leaves them out.

import fs from "node:fs"
import path from "node:path"
import assert from "node:assert/strict"
import { cbor } from "@automerge/automerge-repo"

const [origDir = "../frames", goDir = "/tmp/reencoded"] = process.argv.slice(2)

// normalize drops undefined properties and turns Buffers into Uint8Arrays.
function normalize(v) {
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (Array.isArray(v)) return v.map(normalize)
  if (v && typeof v === "object") {
    const out = {}
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = normalize(x)
    return out
  }
  return v
}

const files = fs.readdirSync(origDir).filter(f => f.endsWith(".cbor")).sort()
if (files.length === 0) throw new Error(`no frames in ${origDir}`)
for (const f of files) {
  const want = normalize(cbor.decode(fs.readFileSync(path.join(origDir, f))))
  const got = normalize(cbor.decode(fs.readFileSync(path.join(goDir, f))))
  assert.deepStrictEqual(got, want, f)
}
console.log(`${files.length} re-encoded frames decode like the originals`)
