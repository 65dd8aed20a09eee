// vectors.mjs writes document id and URL test vectors for the Go package
// wire, computed by the real @automerge/automerge-repo functions.
//
//	npm ci && node vectors.mjs ../documentid_vectors.json
//
// Each id entry records what upstream says about a string: whether
// isValidDocumentId accepts it and, if so, the decoded bytes in hex.
// Upstream accepts any bs58check payload length; package wire additionally
// insists on 16 bytes, so a few entries are valid upstream but not for wire.

import fs from "node:fs"
import crypto from "node:crypto"
import bs58check from "bs58check"
import {
  generateAutomergeUrl,
  parseAutomergeUrl,
  stringifyAutomergeUrl,
  isValidDocumentId,
  isValidAutomergeUrl,
  documentIdToBinary,
  encodeHeads,
} from "@automerge/automerge-repo"

const hex = bytes => Buffer.from(bytes).toString("hex")
const out = process.argv[2] ?? "../documentid_vectors.json"

const ids = []
function id(s, note) {
  const upstreamValid = isValidDocumentId(s)
  const bin = upstreamValid ? documentIdToBinary(s) : undefined
  ids.push({
    id: s,
    upstreamValid,
    bytes: bin ? hex(bin) : "",
    valid: upstreamValid && bin.length === 16,
    note,
  })
}

// Fresh ids, exactly as Repo.create makes them.
const generated = []
for (let i = 0; i < 8; i++) {
  const { documentId } = parseAutomergeUrl(generateAutomergeUrl())
  generated.push(documentId)
  id(documentId, "generateAutomergeUrl")
}
// Edge payloads: all zero bytes (leading '1's) and all 0xff.
id(bs58check.encode(new Uint8Array(16)), "16 zero bytes")
id(bs58check.encode(new Uint8Array(16).fill(0xff)), "16 0xff bytes")

// Rejections.
const g = generated[0]
const flip = c => (c === "2" ? "3" : "2")
id(g.slice(0, -1) + flip(g.at(-1)), "last character changed: bad checksum")
id(flip(g[0]) + g.slice(1), "first character changed: bad checksum")
id(g.slice(0, -1), "truncated")
id(g + "2", "one character appended")
id(g.slice(0, 5) + "0" + g.slice(6), "'0' is not in the bitcoin alphabet")
id(g.slice(0, 5) + "O" + g.slice(6), "'O' is not in the bitcoin alphabet")
id(g.slice(0, 5) + "I" + g.slice(6), "'I' is not in the bitcoin alphabet")
id(g.slice(0, 5) + "l" + g.slice(6), "'l' is not in the bitcoin alphabet")
id("", "empty")
id("automerge:" + g, "a URL is not a bare id")
id(crypto.randomUUID(), "legacy UUID form")
id(bs58check.encode(crypto.randomBytes(15)), "15-byte payload")
id(bs58check.encode(crypto.randomBytes(17)), "17-byte payload")
id(bs58check.encode(crypto.randomBytes(32)), "32-byte payload (a head)")
id(bs58check.encode(new Uint8Array(0)), "empty payload")

const urls = []
function url(u, note) {
  let documentId = ""
  let heads
  let upstreamValid = isValidAutomergeUrl(u)
  if (upstreamValid) ({ documentId, heads } = parseAutomergeUrl(u))
  urls.push({ url: u, upstreamValid, documentId, heads: heads ?? null, note })
}
const head1 = encodeHeads([hex(crypto.randomBytes(32))])[0]
const head2 = encodeHeads([hex(crypto.randomBytes(32))])[0]
url(stringifyAutomergeUrl(g), "plain")
url(stringifyAutomergeUrl({ documentId: g, heads: [head1] }), "one head")
url(
  stringifyAutomergeUrl({ documentId: g, heads: [head1, head2] }),
  "two heads"
)
url(`automerge:${g}#`, "empty heads section")
url(`automerge:${g}#${head1}#${head2}`, "two heads sections")
url(`automerge:${g}#notahead`, "bad head")
url(`Automerge:${g}`, "prefix is case-sensitive")
url(`automerge:/${g}`, "slash after prefix")
url(`automerge:${g.slice(0, -1)}`, "bad checksum")
url(g, "bare id, no prefix")
url("automerge:", "no id")

fs.writeFileSync(out, JSON.stringify({ ids, urls }, null, 1) + "\n")
console.log(`wrote ${ids.length} ids and ${urls.length} urls to ${out}`)
