package server

import (
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// bulkItem is one slice of a transfer.
type bulkItem struct {
	frame []byte
	t     *transfer
	n     int // its place in the transfer, from 1
}

// transfer is one sliced answer to one peer for one document.
type transfer struct {
	doc     wire.DocumentID
	slices  int
	bytes   int64
	written int64
	started time.Time
	done    func() // called after the last slice is written
}

// sendBulk queues the slices of a sliced answer, each a sync message for
// doc; done runs on the write loop once the last is written (never, if the
// peer is cut first).
func (pe *peer) sendBulk(doc wire.DocumentID, data [][]byte, done func()) {
	t := &transfer{doc: doc, slices: len(data), started: time.Now(), done: done}
	items := make([]*bulkItem, 0, len(data))
	for _, d := range data {
		frame, err := wire.Encode(wire.Message{Type: wire.TypeSync, SenderID: pe.relay.opts.PeerID, TargetID: pe.id, DocumentID: doc, Data: d})
		if err != nil {
			pe.log().Error("encoding a slice", "doc", doc, "err", err)
			continue
		}
		t.bytes += int64(len(frame))
		pe.relay.metrics.MessageSent(MessageTypeLabel(wire.TypeSync), len(frame))
		items = append(items, &bulkItem{frame: frame, t: t, n: len(items) + 1})
	}
	t.slices = len(items)
	if len(items) == 0 {
		done()
		return
	}
	pe.queued.Add(t.bytes)
	pe.log().Debug("sliced transfer queued", "peer", pe.id, "doc", doc, "slices", len(items), "bytes", t.bytes)
	pe.enqueueBulk(items)
}

// written records that a slice left the write loop: progress is logged,
// and the transfer's done runs after its last slice.
func (it *bulkItem) written(pe *peer) {
	t := it.t
	t.written += int64(len(it.frame))
	pe.log().Debug("transfer progress", "peer", pe.id, "doc", t.doc, "slice", it.n, "of", t.slices,
		"bytes", t.written, "total", t.bytes, "elapsed", time.Since(t.started).Round(time.Millisecond))
	if it.n == t.slices && t.done != nil {
		t.done()
	}
}

// PendingBytes is how many bytes of messages the relay has queued for the
// peer and not yet handed to its connection.
func (pe *peer) PendingBytes() int64 { return pe.queued.Load() }
