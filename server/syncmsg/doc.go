// Package syncmsg reads and writes Automerge sync messages, the payload of
// the automerge-repo `sync` and `request` messages, without the Automerge
// core.
//
// The relay's Automerge core (automerge-go, automerge-rs 0.5) generates only
// version 1 messages (first byte 0x42): heads, need, have, and a list of
// changes, each one a change chunk. Current Automerge (automerge-rs 0.6+,
// @automerge/automerge 2.2+) also reads version 2 messages (first byte
// 0x43), identical except that the change list holds one blob passed to
// loadIncremental: typically the whole compressed document, which for a
// peer that has nothing costs a few bytes per change instead of a hundred.
//
// Capabilities are negotiated in-band: a peer that reads version 2 appends
// a flags section (a length-prefixed byte list, the legacy 0x02 byte and a
// bitfield) after the changes of every message it sends; older parsers
// ignore trailing bytes. A message with that section says "I read v2". The
// relay never writes the section itself, so peers keep sending it version 1
// messages, which its core reads.
//
// Layout (all counts unsigned LEB128, hashes 32 bytes, sorted):
//
//	type(0x42|0x43) heads need have changes [flags]
//	heads, need   count hash…
//	have          count {lastSync: count hash…, bloom: length bytes}…
//	changes       count {length bytes}…
//	flags         length bytes
//
// See automerge-rs rust/automerge/src/sync.rs (Message::parse, encode,
// MessageFlags) for the reference.
//
// Types: Message (one decoded sync message), Have, Hash. Decode and
// Message.Encode are pure functions over byte slices; Decode returns
// slices aliasing its input. Nothing here holds locks or state.
package syncmsg
