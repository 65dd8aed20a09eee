package server

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/syncmsg"
)

// errPoisoned ends an answer: answering the peer crashed the sandbox's
// core, and the document is marked unavailable (contain.go).
var errPoisoned = errors.New("answering this document crashes the Automerge engine: marked unavailable")

// Thin links (DESIGN.md principle 7). Two things keep a first sync over a
// 2G link cheap and resumable:
//
//   - A peer that announces it has nothing (empty heads) and reads version
//     2 sync messages gets the document itself, compressed, as current
//     Automerge answers such a peer, instead of every change one by one
//     (a hundred bytes each against a few in the saved form).
//   - No sync message is larger than Options.MaxMessageSize. A larger answer
//     goes out as a sequence of messages, each carrying a causally ordered
//     slice of the changes, so the phone applies and stores each slice as
//     it arrives and a dropped link costs only the slice in flight: the next
//     connection announces the phone's heads and continues from there.
//
// Both are built in Go around the relay's Automerge core, which generates
// only single version 1 messages. The peer's sync state is kept consistent
// with what was really sent: for the whole document, the state is told the
// peer will have the document's heads before the state machine generates
// (so it sends only what follows); for slices, the state machine generated
// the whole answer, marking every change sent, and only its delivery is cut
// into pieces.

// image is a saved, compressed form of a document (or of a prefix of its
// history that fits one message) and the heads it holds.
type image struct {
	at    []automerge.ChangeHash // the document's heads when it was made
	heads []automerge.ChangeHash // the heads the saved bytes hold
	data  []byte
}

// wholeDocument answers a peer that has nothing with the document saved
// and compressed, in a version 2 message; whatever the saved prefix does
// not hold follows in slices. No message is larger than limit. Called with
// mu held, after a commit: the save marks everything saved, which is right
// only when nothing applied is uncommitted.
func (s *synchronizer) wholeDocument(pe *peer, ps *peerState, limit int) ([][]byte, error) {
	slot := s.enter(crashmark.OpAnswer, nil, nil)
	defer s.leave(slot)
	img, err := s.image(limit)
	if err != nil || img.data == nil {
		return nil, err // nil, nil: no prefix fits one message; slices only
	}
	// Tell the state machine the peer will hold the image: it then sends
	// only what comes after, and never the image's changes again.
	claim := syncmsg.Message{Type: syncmsg.V1, Heads: hashes(img.heads), Have: []syncmsg.Have{{LastSync: hashes(img.heads)}}}.Encode()
	if _, err := ps.sync.ReceiveMessage(claim); err != nil {
		return nil, fmt.Errorf("recording the document sent: %w", err)
	}
	if s.relay.opts.Sandbox != nil {
		// The sandbox mirrors every peer's sync state with the same
		// messages (contain.go): it records the claim too, and answers
		// it first. The worker checks every message and every load with
		// such an answer, so this crashes only if a document slipped
		// through; then the relay's own core would crash answering, so
		// the document is marked unavailable instead.
		var crash *sandbox.Crash
		if err := s.check(peerKey(pe), claim); errors.As(err, &crash) && !crash.External {
			s.poison(crash)
			return nil, errPoisoned
		}
	}
	ps.claimed = true
	first := syncmsg.Message{Type: syncmsg.V2, Heads: hashes(img.heads), Have: []syncmsg.Have{{LastSync: hashes(img.heads)}}, Changes: [][]byte{img.data}}
	out := [][]byte{first.Encode()}
	if m, ok := ps.sync.GenerateMessage(); ok {
		rest, err := s.slices(m.Bytes(), limit)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	s.log.Debug("first sync: sending the compressed document", "bytes", len(img.data), "prefix", !slices.Equal(img.heads, img.at), "messages", len(out))
	return out, nil
}

// wholeDocumentThreshold is the size of a generated answer from which the
// relay considers sending a version 2 peer the compressed document instead.
const wholeDocumentThreshold = 4 << 10

// compressed returns, for a peer that reads version 2 messages, the
// generated answer m with its changes replaced by the whole compressed
// document when that is less than half their size and fits one message
// of at most limit bytes,
// as current Automerge
// does when a peer lacks much of a document: a phone that kept a part of a
// first sync, or was offline for long, then costs the document, not its
// history. The state machine already counts m's changes as sent, and the
// document holds them all, so its state stays true. Otherwise m is
// returned as it is. Called with mu held, after a commit.
func (s *synchronizer) compressed(m []byte, limit int) []byte {
	dm, err := syncmsg.Decode(m)
	if err != nil || len(dm.Changes) == 0 {
		return m
	}
	img, err := s.image(limit)
	if err != nil || !slices.Equal(img.heads, img.at) || 2*len(img.data) >= len(m) {
		return m
	}
	dm.Type, dm.Changes = syncmsg.V2, [][]byte{img.data}
	out := dm.Encode()
	if len(out) > limit {
		return m // with its have, it would not fit one message: slices instead
	}
	s.log.Debug("sending the compressed document instead of changes", "changes", len(m), "document", len(img.data))
	return out
}

// image returns the document saved whole if that fits one message of
// size, else the longest prefix of its history that does (the rest goes
// in slices). Images are kept per size until the heads move: a phone on a
// link that drops often gets a smaller one (linkfit.go). Called with mu
// held.
func (s *synchronizer) image(size int) (image, error) {
	heads := s.doc.Heads()
	if len(s.imgs) > 0 && !slices.Equal(s.imgsAt, heads) {
		s.imgs = nil
	}
	if img, ok := s.imgs[size]; ok {
		return img, nil
	}
	// Room for the message around the saved bytes: type, counts, the
	// heads twice (as heads and last sync) and a length.
	limit := size - 16 - 64*len(heads)
	var whole []byte
	for _, img := range s.imgs { // the whole save, if an earlier size made it
		if slices.Equal(img.heads, img.at) {
			whole = img.data
		}
	}
	if whole == nil {
		whole = s.doc.Save()
	}
	img := image{at: heads, heads: heads, data: whole}
	if len(img.data) > limit {
		var err error
		if img, err = s.prefixImage(heads, len(img.data), limit); err != nil {
			return image{}, err
		}
	}
	if img.data != nil {
		if err := s.reloads(img.data); err != nil {
			// A phone could not load it either (stock Automerge checks what
			// it loads as the core does): it gets the changes instead.
			s.log.Warn("the document saved whole does not load again: a new phone gets its changes instead", "err", err)
			img = image{at: heads}
		}
	}
	if s.imgs == nil {
		s.imgs, s.imgsAt = make(map[int]image), heads
	}
	s.imgs[size] = img
	return img, nil
}

// prefixImage saves the longest causal prefix of the history whose save
// fits limit: it guesses the prefix's length from the ratio of sizes,
// shrinking until one fits, then grows it toward the limit, since every
// change the prefix holds is one fewer sent alone (about twice its size
// in the saved form, even compressed on the wire).
func (s *synchronizer) prefixImage(at []automerge.ChangeHash, whole, limit int) (image, error) {
	changes, err := s.doc.Changes()
	if err != nil {
		return image{}, err
	}
	// save saves the first n changes and says what they take in a message.
	save := func(n int) (image, int, error) {
		heads := frontier(changes[:n])
		fork, err := s.doc.Fork(heads...)
		if err != nil {
			return image{}, 0, err
		}
		data := fork.Save()
		return image{at: at, heads: heads, data: data}, len(data) + 64*len(heads), nil
	}
	guess := func(n, size int, margin float64) int {
		return int(float64(n) * float64(limit) / float64(size) * margin)
	}
	size, n := whole, len(changes)
	var fit image
	for range 8 {
		if n = guess(n, size, 0.95); n <= 0 {
			return image{at: at}, nil // nothing fits: every change goes in slices
		}
		img, sz, err := save(n)
		if err != nil {
			return image{}, err
		}
		size = sz
		if sz <= limit {
			fit = img
			break
		}
	}
	if fit.data == nil {
		return image{at: at}, nil
	}
	// Grow toward the limit; a guess that overshoots bounds the search,
	// which then halves the gap instead of giving up short of the limit.
	lo, hi := n, len(changes)+1
	for range 6 {
		if size >= limit*995/1000 {
			break
		}
		next := guess(lo, size, 0.995)
		if next >= hi {
			next = (lo + hi) / 2
		}
		if next <= lo || next > len(changes) {
			break
		}
		img, sz, err := save(next)
		if err != nil {
			return image{}, err
		}
		if sz > limit {
			hi = next
			continue
		}
		fit, lo, size = img, next, sz
	}
	return fit, nil
}

// frontier returns the heads of a causally ordered list of changes, sorted.
func frontier(changes []*automerge.Change) []automerge.ChangeHash {
	heads := make(map[automerge.ChangeHash]bool)
	for _, c := range changes {
		for _, d := range c.Dependencies() {
			delete(heads, d)
		}
		heads[c.Hash()] = true
	}
	out := make([]automerge.ChangeHash, 0, len(heads))
	for h := range heads {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func hashes(hs []automerge.ChangeHash) []syncmsg.Hash {
	out := make([]syncmsg.Hash, len(hs))
	for i, h := range hs {
		out[i] = syncmsg.Hash(h)
	}
	return out
}

// changeHashes is the inverse of hashes.
func changeHashes(hs []syncmsg.Hash) []automerge.ChangeHash {
	out := make([]automerge.ChangeHash, len(hs))
	for i, h := range hs {
		out[i] = automerge.ChangeHash(h)
	}
	return out
}

// slices cuts a generated sync message larger than limit into
// messages that fit, each carrying a causally ordered slice of its changes
// (a single change larger than the limit travels alone). Every slice
// repeats the heads and need; the have, which can be large and tells the
// peer what to send back, rides on the last. A message that fits is
// returned as it is.
func (s *synchronizer) slices(raw []byte, limit int) ([][]byte, error) {
	if len(raw) <= limit {
		return [][]byte{raw}, nil
	}
	m, err := syncmsg.Decode(raw)
	if err != nil {
		return nil, err
	}
	changes, err := syncmsg.CausalOrder(m.Changes)
	if err != nil {
		return nil, err
	}
	base := syncmsg.Message{Type: m.Type, Heads: m.Heads, Need: m.Need}
	overhead := len(base.Encode()) + 16
	var out [][]byte
	var cur [][]byte
	size := overhead
	for _, c := range changes {
		if len(cur) > 0 && size+len(c)+5 > limit {
			next := base
			next.Changes = cur
			out = append(out, next.Encode())
			cur, size = nil, overhead
		}
		cur = append(cur, c)
		size += len(c) + 5
	}
	last := base
	last.Changes = cur
	last.Have = m.Have
	if enc := last.Encode(); len(enc) <= limit || len(cur) == 0 {
		return append(out, enc), nil
	}
	// The have does not fit beside the last slice: it goes alone.
	last.Have = nil
	out = append(out, last.Encode())
	last.Changes, last.Have = nil, m.Have
	return append(out, last.Encode()), nil
}
