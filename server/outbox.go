package server

import (
	"context"
	"sync"
	"time"
)

// outbox holds what waits to be written to a peer, in three lanes, each
// written only when the ones before it are empty:
//
//   - the bounded send queue: every message but ephemeral ones and slices,
//     in order;
//   - the ephemeral lane: presence and cursors, at most ephemeralLane
//     frames; when it is full the oldest is shed (the newest says where a
//     cursor is now). A member flooding a document with ephemeral messages
//     never puts a sync message of another document behind them;
//   - the bulk lane: slices of sliced answers (transfer.go), so a small
//     message never waits behind more than one slice. Slices are not
//     bounded by the send queue: a transfer of megabytes to a phone on 2G
//     is progress, not a slow peer, and must not get it cut off.
//
// The lanes decide the order only while frames wait here, so the socket
// holds few unsent bytes (wsconn: TCP_NOTSENT_LOWAT): what the kernel
// has taken is sent in the order it was taken.
//
// A writer goroutine runs only while something waits; an idle peer has
// none, and its queue holds no memory (issue 11: thousands of phones hold a
// socket open for hours doing nothing).
type outbox struct {
	mu      sync.Mutex    // guards the following
	queue   [][]byte      // frames in order; nil when empty
	eph     [][]byte      // ephemeral frames in order; nil when empty
	bulk    []*bulkItem   // slices, in order; nil when empty
	writing bool          // a writer goroutine is running
	flushed chan struct{} // closed when the running writer stops; made by closeConn
}

// enqueued says what became of a frame handed to enqueue.
type enqueued int

const (
	queued enqueued = iota // the writer will send it
	full                   // the queue is full: the peer is too slow
)

// ephemeralLane is how many ephemeral frames may wait for one peer.
const ephemeralLane = 64

// enqueue adds frame to the send queue, or an ephemeral frame to the
// ephemeral lane (shedding the oldest when it is full), and starts the
// writer if none runs.
func (pe *peer) enqueue(frame []byte, ephemeral bool) enqueued {
	limit := pe.relay.opts.SendQueue
	o := &pe.out
	o.mu.Lock()
	switch {
	case ephemeral:
		if len(o.eph) >= ephemeralLane {
			pe.queued.Add(-int64(len(o.eph[0])))
			o.eph[0] = nil
			o.eph = o.eph[1:]
		}
		o.eph = append(o.eph, frame)
	case len(o.queue) >= limit:
		o.mu.Unlock()
		return full
	default:
		o.queue = append(o.queue, frame)
	}
	pe.queued.Add(int64(len(frame)))
	start := !o.writing
	o.writing = true
	o.mu.Unlock()
	if start {
		go pe.writeLoop()
	}
	return queued
}

// enqueueBulk adds the slices of a sliced answer to the bulk lane and
// starts the writer if none runs.
func (pe *peer) enqueueBulk(items []*bulkItem) {
	o := &pe.out
	o.mu.Lock()
	o.bulk = append(o.bulk, items...)
	start := !o.writing
	o.writing = true
	o.mu.Unlock()
	if start {
		go pe.writeLoop()
	}
}

// next takes the frame to write next: the oldest queued one, else (unless
// the peer is being cut) the oldest ephemeral one, else the oldest slice. When there is none the writer
// is marked stopped, in the same critical section, and ok is false.
func (pe *peer) next() (frame []byte, item *bulkItem, ok bool) {
	o := &pe.out
	o.mu.Lock()
	defer o.mu.Unlock()
	cutting := false
	select {
	case <-pe.done:
		cutting = true
	default:
	}
	switch {
	case len(o.queue) > 0:
		frame = o.queue[0]
		o.queue[0] = nil
		if o.queue = o.queue[1:]; len(o.queue) == 0 {
			o.queue = nil // give the array back: the peer may now idle for hours
		}
		return frame, nil, true
	case len(o.eph) > 0 && !cutting:
		frame = o.eph[0]
		o.eph[0] = nil
		if o.eph = o.eph[1:]; len(o.eph) == 0 {
			o.eph = nil
		}
		return frame, nil, true
	case len(o.bulk) > 0 && !cutting:
		item = o.bulk[0]
		o.bulk[0] = nil
		if o.bulk = o.bulk[1:]; len(o.bulk) == 0 {
			o.bulk = nil
		}
		return item.frame, item, true
	}
	pe.stopWriting()
	return nil, nil, false
}

// stopWriting marks the writer stopped and tells a waiting closeConn.
// Called with out.mu held.
func (pe *peer) stopWriting() {
	o := &pe.out
	o.writing = false
	if o.flushed != nil {
		close(o.flushed)
		o.flushed = nil
	}
}

// writeLoop writes queued frames in order until none is left. Once the
// peer is cut it writes only what the send queue holds (an error message,
// a last sync), never the rest of a transfer.
func (pe *peer) writeLoop() {
	for {
		frame, item, ok := pe.next()
		if !ok {
			return
		}
		write := pe.conn.WriteFrame
		if bw, ok := pe.conn.(BulkWriter); ok && item != nil {
			write = bw.WriteBulkFrame
		}
		if err := write(context.Background(), frame); err != nil {
			pe.log().Debug("write failed", "peer", pe.id, "err", err)
			pe.cut("write failed")
			o := &pe.out
			o.mu.Lock()
			o.queue, o.eph, o.bulk = nil, nil, nil
			pe.queued.Store(0)
			pe.stopWriting()
			o.mu.Unlock()
			return
		}
		pe.queued.Add(-int64(len(frame)))
		if item != nil {
			item.written(pe)
		}
	}
}

// closeGrace is how long a cut peer's writer may take to flush what was
// queued (a final error message) before the connection is closed under it.
const closeGrace = 2 * time.Second

// closeConn closes the connection of a cut peer once its writer has
// flushed the send queue, or after closeGrace.
func (pe *peer) closeConn() {
	o := &pe.out
	o.mu.Lock()
	var flushed chan struct{}
	if o.writing {
		if o.flushed == nil {
			o.flushed = make(chan struct{})
		}
		flushed = o.flushed
	}
	o.mu.Unlock()
	if flushed != nil {
		t := time.NewTimer(closeGrace)
		select {
		case <-flushed:
		case <-t.C:
		}
		t.Stop()
	}
	_ = pe.conn.Close(pe.reason)
	close(pe.closed)
}
