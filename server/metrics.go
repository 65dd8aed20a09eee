package server

import (
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// Metrics is told what the relay does, so that an operator can watch it
// (package server/metrics implements it with Prometheus). The relay calls
// it from many goroutines, sometimes with a document's lock held, so an
// implementation must be safe for concurrent use, cheap, and must not call
// back into the relay. Every string argument comes from a small fixed set
// (the constants below, wire message types, principal kinds): never a
// token, an id or document content.
//
// Options.Metrics defaults to NopMetrics. Code that does something worth
// counting calls the relay's hook (r.metrics.X), never a global.
type Metrics interface {
	// PeerConnected and PeerDisconnected bracket one connection of a
	// principal of kind, from Accept or Dial until it ends.
	PeerConnected(kind PrincipalKind)
	PeerDisconnected(kind PrincipalKind)
	// PeerJoined counts a finished handshake.
	PeerJoined(kind PrincipalKind)
	// HandshakeFailed counts a connection that ended before its handshake
	// finished, for one of the HandshakeFailure reasons.
	HandshakeFailed(reason HandshakeFailure)
	// MessageReceived counts one frame read from a peer: its message type
	// (MessageTypeLabel) and its size.
	MessageReceived(msgType string, bytes int)
	// MessageSent counts one frame queued for a peer.
	MessageSent(msgType string, bytes int)
	// ChangesApplied counts changes applied to documents: those carried by
	// accepted sync messages, and local writes (the REST API).
	ChangesApplied(n int)
	// DocumentLoaded and DocumentUnloaded bracket a document's time in
	// memory.
	DocumentLoaded()
	DocumentUnloaded()
	// Committed observes one commit of a document's changes to the store
	// (durable: fsync'd), how long it took and whether it failed.
	Committed(d time.Duration, err error)
	// Generated observes the generation of one sync message.
	Generated(d time.Duration)
	// PeerCut counts a peer the relay cut off, for one of the CutReason
	// reasons.
	PeerCut(reason CutReason)
	// Refused counts a message refused under a limit or a grant.
	Refused(reason Refusal)
	// Quarantined counts a change put in quarantine (see DESIGN.md §8): the
	// engine that contains the Automerge core calls it.
	Quarantined()
}

// HandshakeFailure says why a handshake did not finish.
type HandshakeFailure string

// The reasons a handshake fails.
const (
	// HandshakeTimeout: no join (or peer) within Options.HandshakeTimeout.
	HandshakeTimeout HandshakeFailure = "timeout"
	// HandshakeVersion: the two sides share no protocol version.
	HandshakeVersion HandshakeFailure = "version"
	// HandshakeProtocol: the first message was malformed or not a join.
	HandshakeProtocol HandshakeFailure = "protocol"
	// HandshakeClosed: the connection ended before the handshake did.
	HandshakeClosed HandshakeFailure = "closed"
)

// CutReason says why the relay cut a peer off.
type CutReason string

// The reasons the relay cuts a peer.
const (
	// CutSlow: the peer's send queue filled (a slow consumer).
	CutSlow CutReason = "slow"
	// CutProtocol: the peer broke the protocol (malformed or text frame,
	// a sync message Automerge rejected, a second join, …).
	CutProtocol CutReason = "protocol"
	// CutRateLimit: the peer sent messages faster than its rate allows.
	CutRateLimit CutReason = "rate_limit"
	// CutRevoked: the peer's grant ended (a recalled delegate) or a newer
	// connection of the same peer replaced it.
	CutRevoked CutReason = "revoked"
)

// Refusal says why a message was refused.
type Refusal string

// The reasons a message is refused.
const (
	// RefusedRateLimit: over Options.MaxMessagesPerSecond.
	RefusedRateLimit Refusal = "rate_limit"
	// RefusedFrameTooLarge: a frame over Options.MaxFrameSize.
	RefusedFrameTooLarge Refusal = "frame_too_large"
	// RefusedTooManyDocuments: over Options.MaxDocumentsPerConn.
	RefusedTooManyDocuments Refusal = "too_many_documents"
	// RefusedDocumentTooLarge: the change would grow a document past
	// Options.MaxDocumentSize.
	RefusedDocumentTooLarge Refusal = "document_too_large"
	// RefusedReadOnly: changes to a document the principal may only read.
	RefusedReadOnly Refusal = "read_only"
	// RefusedMalformed: a frame that is not a protocol message, a text
	// frame, a message with a malformed document id.
	RefusedMalformed Refusal = "malformed"
	// RefusedSyncMessage: sync data Automerge rejected.
	RefusedSyncMessage Refusal = "sync_rejected"
)

// NopMetrics is the Metrics of a relay nobody watches: every hook does
// nothing.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

// PeerConnected does nothing.
func (NopMetrics) PeerConnected(PrincipalKind) {}

// PeerDisconnected does nothing.
func (NopMetrics) PeerDisconnected(PrincipalKind) {}

// PeerJoined does nothing.
func (NopMetrics) PeerJoined(PrincipalKind) {}

// HandshakeFailed does nothing.
func (NopMetrics) HandshakeFailed(HandshakeFailure) {}

// MessageReceived does nothing.
func (NopMetrics) MessageReceived(string, int) {}

// MessageSent does nothing.
func (NopMetrics) MessageSent(string, int) {}

// ChangesApplied does nothing.
func (NopMetrics) ChangesApplied(int) {}

// DocumentLoaded does nothing.
func (NopMetrics) DocumentLoaded() {}

// DocumentUnloaded does nothing.
func (NopMetrics) DocumentUnloaded() {}

// Committed does nothing.
func (NopMetrics) Committed(time.Duration, error) {}

// Generated does nothing.
func (NopMetrics) Generated(time.Duration) {}

// PeerCut does nothing.
func (NopMetrics) PeerCut(CutReason) {}

// Refused does nothing.
func (NopMetrics) Refused(Refusal) {}

// Quarantined does nothing.
func (NopMetrics) Quarantined() {}

// MessageTypeLabel is the label a message type is counted under: one of
// the protocol's types, or "other" for anything a peer invents, so a peer
// cannot grow the metrics without bound.
func MessageTypeLabel(t wire.Type) string {
	switch t {
	case wire.TypeJoin, wire.TypePeer, wire.TypeLeave, wire.TypeError,
		wire.TypeSync, wire.TypeRequest, wire.TypeEphemeral, wire.TypeDocUnavailable,
		wire.TypeRemoteSubscriptionChange, wire.TypeRemoteHeadsChanged:
		return string(t)
	}
	return "other"
}
