// Package bundle is the .bundle file: a council's changes carried by hand
// — on a USB stick, as a shared file — between replicas that have no link
// at all. This is the one place the format is defined; the relay's
// POST /api/bundles, `veche bundle export|import` and the web app all
// read and write it through this description.
//
// # Format (version 1)
//
// A bundle is one line of JSON (the header), a newline (0x0A), then the
// payload, and nothing after it:
//
//	{"format":"veche-bundle/1","council":"4KiMYeCRzQoq3QknKaKoAj4btvqR",
//	 "before":["<hex change hash>",…],"after":["<hex change hash>",…],
//	 "count":12,"size":3456,"sha256":"<hex>","created":"2026-11-26T01:00:00Z"}\n
//	<size bytes of payload>
//
// (shown wrapped; the header is a single line). Fields:
//
//   - format: "veche-bundle/1". Readers refuse other values.
//   - council: the documentId of the council the changes belong to.
//   - before: the heads the exporter assumed the receiver holds (the
//     --since heads); empty: the bundle carries the whole history.
//   - after: the exporter's heads when it wrote the bundle; a receiver
//     that imported it holds at least these.
//   - count: how many changes the payload holds.
//   - size: the payload's length in bytes.
//   - sha256: the hex SHA-256 of the payload. A damaged or altered
//     payload, or one cut short, is refused whole.
//   - created: when the bundle was written (RFC 3339), for people.
//
// The payload is count Automerge changes in their binary change-chunk
// form, concatenated in causal order (every change after those it depends
// on): exactly what automerge-go's SaveChanges writes and what JS
// Automerge.getChanges returns, joined; loadIncremental (JS Automerge,
// automerge-go's Doc.LoadIncremental) applies it to a document that holds
// what the changes depend on (an empty one for a whole-council bundle).
// Large changes may come as compressed change chunks (type 2), as JS
// Automerge stores them. interop/testdata/bundle.mjs
// reads and writes bundles with stock @automerge/automerge in a few lines,
// and interop's TestBundlesReadAndWrittenByStockAutomerge holds both
// sides to this description.
//
// # Importing
//
// Check refuses a bundle whose changes do not fit the receiving document
// and changes nothing: changes that depend on changes the receiver lacks
// (an earlier bundle was not imported: out of order), a history of a
// different document (a change without dependencies that the receiver
// does not have, while it has a history of its own: foreign), or an
// "after" head neither in the bundle nor in the receiver (an altered
// header). Changes the receiver holds already are skipped, so importing a
// bundle twice is a no-op.
package bundle
