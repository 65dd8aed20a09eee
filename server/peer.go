package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// peer is one connection after (or during) the handshake. Its messages
// are read in bursts, each on a goroutine of its own that ends once
// nothing more has arrived; over a Conn that can call back when input
// arrives (ReadNotifier), an idle peer then holds no goroutine at all. A
// writer goroutine runs only while frames wait in its bounded send queue
// or bulk lane (outbox.go), and a closer only while it is being cut.
// Everything else is allocated when first needed, so that an idle phone
// costs a few KiB (issue 11).
type peer struct {
	relay     *Relay
	conn      Conn
	principal Principal

	// Set once by the handshake, before any document sees the peer.
	id        string
	meta      wire.PeerMetadata
	ephemeral bool // the peer keeps no storage: its sync state is not persisted

	out    outbox        // frames waiting to be written, and the writer
	erred  atomic.Bool   // the relay told the peer it broke the protocol
	queued atomic.Int64  // bytes queued in the outbox, not yet written
	done   chan struct{} // closed when the peer is cut
	closed chan struct{} // closed once the connection is closed after the cut
	once   sync.Once
	reason string // why it was cut; written once before done is closed

	// The session: ctx's end cuts the peer (stopWatch undoes that watch;
	// nil when ctx cannot end), ended is called once it is over.
	ctx       context.Context
	stopWatch func() bool
	ended     func(error)

	// Owned by the reader (one burst at a time).
	limit  rateLimit
	resume func()                   // pe.read, made once
	docs   map[string]*synchronizer // nil until the first document
}

func newPeer(r *Relay, conn Conn, p Principal) *peer {
	return &peer{
		relay:     r,
		conn:      conn,
		principal: p,
		done:      make(chan struct{}),
		closed:    make(chan struct{}),
	}
}

// log is the relay's logger with the peer's address and principal. It is
// built per call rather than kept: an idle peer logs nothing.
func (pe *peer) log() *slog.Logger {
	return pe.relay.log.With("remote", pe.conn.RemoteAddr(), "principal", pe.principal.ID)
}

// storageID is the key under which the peer's sync state is persisted, or
// "" when it is not persisted.
func (pe *peer) storageID() string {
	if pe.ephemeral || pe.meta.StorageID == "" {
		return ""
	}
	return syncStateKey(pe.principal, pe.meta.StorageID)
}

// syncStateKey is where the sync state of principal p's peer with
// storageID is persisted. The storageId is the client's to choose and not
// secret: the state kept under it belongs to the principal that synced,
// and another principal presenting the same storageId starts afresh.
func syncStateKey(p Principal, storageID string) string {
	return p.ID + "\x00" + storageID
}

// begin runs the session on a goroutine of its own: the handshake, then
// the first burst of reading (read).
func (pe *peer) begin(dialing bool) {
	if pe.ctx.Done() != nil {
		pe.stopWatch = context.AfterFunc(pe.ctx, func() { pe.cut("") })
	}
	err := safely(func() error {
		if dialing {
			if err := pe.dialHandshake(pe.ctx); err != nil {
				return err
			}
			return pe.offerShared()
		}
		return pe.acceptHandshake(pe.ctx)
	})
	if err != nil {
		pe.relay.metrics.HandshakeFailed(pe.handshakeFailure(err))
		pe.end(err)
		return
	}
	pe.relay.metrics.PeerJoined(pe.principal.Kind)
	pe.limit = rateLimit{rate: pe.relay.opts.MaxMessagesPerSecond, burst: float64(pe.relay.opts.MessageBurst)}
	pe.resume = pe.read
	pe.read()
}

// read reads and handles the messages that have arrived. Once nothing
// more has, over a Conn that can call back when input arrives
// (ReadNotifier), it asks to be called again then and returns, ending its
// goroutine with whatever stack the burst grew: an idle peer holds no
// goroutine (issue 11). Over other Conns it reads on, blocking. When the
// connection ends, it ends the session.
func (pe *peer) read() {
	notifier, _ := pe.conn.(ReadNotifier)
	for {
		err := safely(func() error { return pe.readBurst(pe.ctx, notifier) })
		if err != errIdle {
			pe.end(err)
			return
		}
		if notifier.NotifyReadable(pe.resume) {
			return
		}
		notifier = nil // it cannot call back: read on, blocking
	}
}

// end closes a session: the peer is cut, the connection closed, its
// documents told it left; then the caller of Accept or Dial learns err.
func (pe *peer) end(err error) {
	pe.cut(closeReason(err))
	<-pe.closed
	pe.leaveDocuments()
	if pe.stopWatch != nil {
		pe.stopWatch()
	}
	pe.relay.removePeer(pe)
	pe.relay.wg.Done()
	if errors.Is(err, errPeerLeft) {
		err = nil
	}
	pe.ended(err)
}

// errPeerLeft ends the read loop when the peer said leave.
var errPeerLeft = errors.New("peer left")

func closeReason(err error) string {
	if err == nil || errors.Is(err, errPeerLeft) {
		return ""
	}
	return err.Error()
}

// errIdle ends a burst of reading: nothing more has arrived.
var errIdle = errors.New("idle")

// safely runs f; a panic in f becomes an error: the connection ends, the
// relay goes on.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("internal error: %v", v)
		}
	}()
	return f()
}

// readBurst reads and handles messages until the connection ends, or,
// given a notifier, until no further input is waiting (errIdle). Called
// by the reader.
func (pe *peer) readBurst(ctx context.Context, notifier ReadNotifier) error {
	limit := &pe.limit
	for {
		if notifier != nil && !notifier.Readable() {
			return errIdle
		}
		frame, err := pe.conn.ReadFrame(ctx)
		if err != nil {
			select {
			case <-pe.done:
				return nil // we cut it ourselves
			default:
			}
			if errors.Is(err, ErrTextFrame) || errors.Is(err, ErrFrameTooLarge) {
				pe.refuseFrame(err)
			}
			return err
		}
		if !limit.allow(time.Now()) {
			err := fmt.Errorf("too many messages: over %g per second", limit.rate)
			pe.relay.metrics.Refused(RefusedRateLimit)
			pe.relay.metrics.PeerCut(CutRateLimit)
			pe.protocolError(err.Error())
			return err
		}
		msg, err := wire.Decode(frame, pe.relay.opts.MaxFrameSize)
		if err != nil {
			err = fmt.Errorf("malformed message: %w", err)
			pe.relay.metrics.Refused(RefusedMalformed)
			pe.relay.metrics.PeerCut(CutProtocol)
			pe.protocolError(err.Error())
			return err
		}
		pe.relay.metrics.MessageReceived(MessageTypeLabel(msg.Type), len(frame))
		if err := pe.handle(msg); err != nil {
			return err
		}
	}
}

// handle dispatches one message; an error ends the connection.
func (pe *peer) handle(msg wire.Message) error {
	switch msg.Type {
	case wire.TypeJoin:
		err := errors.New("duplicate join: the handshake is already done")
		pe.relay.metrics.PeerCut(CutProtocol)
		pe.protocolError(err.Error())
		return err
	case wire.TypeLeave:
		return errPeerLeft
	case wire.TypeError:
		return fmt.Errorf("peer reported an error: %s", msg.ErrorMessage)
	case wire.TypeSync, wire.TypeRequest:
		return pe.handleSync(msg)
	case wire.TypeEphemeral:
		pe.handleEphemeral(msg)
		return nil
	case wire.TypeDocUnavailable:
		// The peer lacks a document we offered or asked for.
		if o := pe.relay.opts.Observer; o != nil && msg.Validate() == nil {
			o.PeerUnavailable(pe.principal, msg.DocumentID)
		}
		return nil
	default:
		// remote-subscription-change, remote-heads-changed and types from
		// newer protocol revisions need no answer from us.
		return nil
	}
}

func (pe *peer) handleSync(msg wire.Message) error {
	if err := msg.Validate(); err != nil {
		pe.relay.metrics.Refused(RefusedMalformed)
		pe.docError(msg.DocumentID, err.Error())
		return nil
	}
	id := string(msg.DocumentID)
	s := pe.docs[id]
	if s == nil {
		if len(pe.docs) >= pe.relay.opts.MaxDocumentsPerConn {
			pe.relay.metrics.Refused(RefusedTooManyDocuments)
			pe.docError(msg.DocumentID, fmt.Sprintf("too many documents on one connection (limit %d)", pe.relay.opts.MaxDocumentsPerConn))
			return nil
		}
		// One place decides which document serves this id to this
		// principal: the real one, its scope's shadow, a new one, or none
		// (decoy.go).
		routed, full, err := pe.relay.route(pe.principal, id, msg.Type == wire.TypeSync)
		switch {
		case err != nil:
			return err
		case full:
			// Said of a new id and of one it may not read alike, so the
			// bound tells nothing of which ids exist.
			pe.relay.metrics.Refused(RefusedTooManyDocuments)
			pe.docError(msg.DocumentID, fmt.Sprintf("too many documents: your council owns %d already (the relay's limit); no more can be created", pe.relay.opts.MaxDocumentsPerCouncil))
			return nil
		case routed == nil:
			// Exactly what a document nobody has gets: existence is not leaked.
			pe.send(wire.Message{Type: wire.TypeDocUnavailable, DocumentID: msg.DocumentID})
			return nil
		}
		s = routed
		pe.addDoc(id, s)
	}
	if s.shadow && pe.relay.opts.Access.CanRead(pe.principal, id) {
		// The scope was granted the real document meanwhile: from now on
		// it gets that one, never the shadow (decoy.go).
		pe.leaveDocument(id, s)
		return pe.handleSync(msg)
	}
	ev := event{peer: pe, msg: msg, canWrite: pe.relay.opts.Access.CanWrite(pe.principal, s.key)}
	if !s.deliver(ev) {
		// The document was retired or the relay is stopping: open it again.
		delete(pe.docs, id)
		pe.relay.release(s)
		return pe.handleSync(msg)
	}
	return nil
}

func (pe *peer) handleEphemeral(msg wire.Message) {
	if err := msg.Validate(); err != nil {
		pe.relay.metrics.Refused(RefusedMalformed)
		pe.docError(msg.DocumentID, err.Error())
		return
	}
	if !pe.relay.ephemeral.first(msg.SessionID, msg.Count) {
		return // seen before: it came round a loop
	}
	s := pe.docs[string(msg.DocumentID)]
	if s == nil {
		return // the peer does not sync this document with us
	}
	s.deliver(event{peer: pe, msg: msg})
}

// addDoc records that the peer syncs document id through s. Called by
// the read loop.
func (pe *peer) addDoc(id string, s *synchronizer) {
	if pe.docs == nil {
		pe.docs = make(map[string]*synchronizer)
	}
	pe.docs[id] = s
}

// leaveDocuments tells every document the peer synced that it is gone.
func (pe *peer) leaveDocuments() {
	for id, s := range pe.docs {
		pe.leaveDocument(id, s)
	}
}

// leaveDocument tells the document the peer synced as id through s that
// the peer is gone from it. Called by the read loop.
func (pe *peer) leaveDocument(id string, s *synchronizer) {
	s.deliver(event{peer: pe, gone: true})
	pe.relay.release(s)
	delete(pe.docs, id)
}

// send queues a message for the peer, filling in the addressing. A peer
// whose queue is full is too slow to keep up and is cut off: it must never
// stall the documents it shares with others. Ephemeral messages go to a
// lane of their own, which sheds its oldest instead (outbox.go). It
// reports whether the message was queued.
func (pe *peer) send(msg wire.Message) bool {
	if msg.SenderID == "" {
		msg.SenderID = pe.relay.opts.PeerID
	}
	if msg.TargetID == "" {
		msg.TargetID = pe.id
	}
	frame, err := wire.Encode(msg)
	if err != nil {
		pe.log().Error("encoding message", "type", msg.Type, "err", err)
		return false
	}
	select {
	case <-pe.done:
		return false
	default:
	}
	switch pe.enqueue(frame, msg.Type == wire.TypeEphemeral) {
	case queued:
		pe.relay.metrics.MessageSent(MessageTypeLabel(msg.Type), len(frame))
		return true
	default:
		pe.log().Warn("slow peer cut off: send queue full", "peer", pe.id, "queue", pe.relay.opts.SendQueue)
		pe.relay.metrics.PeerCut(CutSlow)
		pe.cut("too slow: send queue full")
		return false
	}
}

// protocolError tells the peer what it did wrong; the caller then ends the
// connection.
func (pe *peer) protocolError(text string) {
	pe.erred.Store(true)
	pe.log().Info("protocol error, closing connection", "peer", pe.id, "err", text)
	pe.sendNow(wire.Message{Type: wire.TypeError, ErrorMessage: text})
}

// docError tells the peer a message about one document was refused; the
// connection stays open.
func (pe *peer) docError(id wire.DocumentID, text string) {
	pe.log().Info("message refused", "peer", pe.id, "doc", id, "err", text)
	pe.send(wire.Message{Type: wire.TypeError, DocumentID: id, ErrorMessage: text})
}

// sendNow queues a message without cutting the peer when the queue is
// full, for the last words before a connection is closed.
func (pe *peer) sendNow(msg wire.Message) {
	msg.SenderID = pe.relay.opts.PeerID
	if msg.TargetID == "" {
		msg.TargetID = pe.id
	}
	frame, err := wire.Encode(msg)
	if err != nil {
		return
	}
	if pe.enqueue(frame, false) == queued {
		pe.relay.metrics.MessageSent(MessageTypeLabel(msg.Type), len(frame))
	}
}

// refuseFrame answers a frame the transport refused (text, or over the
// size limit); the caller then ends the connection.
func (pe *peer) refuseFrame(err error) {
	if errors.Is(err, ErrFrameTooLarge) {
		pe.relay.metrics.Refused(RefusedFrameTooLarge)
	} else {
		pe.relay.metrics.Refused(RefusedMalformed)
	}
	pe.relay.metrics.PeerCut(CutProtocol)
	pe.protocolError(err.Error())
}

// cut ends the connection once, for reason; later calls do nothing. The
// writer flushes what is queued (for at most two seconds), then the
// connection is closed.
func (pe *peer) cut(reason string) {
	pe.once.Do(func() {
		pe.reason = reason
		close(pe.done)
		go pe.closeConn()
	})
}

// rateLimit is a token bucket: rate tokens a second, at most burst saved.
type rateLimit struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (l *rateLimit) allow(now time.Time) bool {
	if l.last.IsZero() {
		l.tokens = l.burst
	} else {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
