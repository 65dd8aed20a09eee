package wire

import (
	"fmt"
	"slices"
)

// ProtocolVersion is the only version of the websocket protocol there is,
// upstream's ProtocolV1.
const ProtocolVersion = "1"

// Type is a message's "type" field. Decode accepts any non-empty type;
// callers ignore the ones they do not know.
type Type string

// The message types of automerge-repo 2.x and its websocket adapter.
const (
	// TypeJoin opens a connection: the connecting side introduces itself.
	// Fields: SenderID, PeerMetadata, SupportedProtocolVersions.
	TypeJoin Type = "join"

	// TypePeer accepts a join. Fields: SenderID, TargetID, PeerMetadata,
	// SelectedProtocolVersion.
	TypePeer Type = "peer"

	// TypeError reports a fatal problem; the sender then closes the
	// connection. Fields: SenderID, TargetID, ErrorMessage.
	TypeError Type = "error"

	// TypeRequest is the first sync message from a peer that does not
	// have the document. Fields: SenderID, TargetID, DocumentID, Data.
	TypeRequest Type = "request"

	// TypeSync carries an Automerge sync message for a document. Fields:
	// SenderID, TargetID, DocumentID, Data.
	TypeSync Type = "sync"

	// TypeDocUnavailable answers a request for a document the sender does
	// not have and cannot get. Fields: SenderID, TargetID, DocumentID.
	TypeDocUnavailable Type = "doc-unavailable"

	// TypeEphemeral carries application data about a document that is
	// relayed but never stored. Fields: SenderID, TargetID, DocumentID,
	// Data, SessionID, Count.
	TypeEphemeral Type = "ephemeral"

	// TypeLeave announced a disconnect in early automerge-repo versions.
	// 2.x never sends it. Fields: SenderID.
	TypeLeave Type = "leave"

	// TypeRemoteSubscriptionChange adds or removes storage ids whose heads
	// the sender wants to hear about. Fields: SenderID, TargetID, Add,
	// Remove.
	TypeRemoteSubscriptionChange Type = "remote-subscription-change"

	// TypeRemoteHeadsChanged tells a subscriber the heads some storage ids
	// have for a document. Fields: SenderID, TargetID, DocumentID,
	// NewHeads.
	TypeRemoteHeadsChanged Type = "remote-heads-changed"
)

// PeerMetadata is how a peer presents itself in join and peer messages.
type PeerMetadata struct {
	// StorageID identifies the peer's storage (upstream: a UUID string)
	// and is absent for peers without storage. Sync state is worth keeping
	// per (StorageID, DocumentID) only for peers that have one.
	StorageID string `cbor:"storageId,omitempty"`

	// IsEphemeral says the peer keeps nothing between sessions; upstream
	// sets it exactly when the repo has no storage.
	IsEphemeral bool `cbor:"isEphemeral"`
}

// HeadsAtTime is the heads one storage id had for a document, and when.
type HeadsAtTime struct {
	// Heads are the document's heads, each the bs58check encoding of a
	// 32-byte change hash. Decode never leaves it nil.
	Heads []string `cbor:"heads"`

	// Timestamp is when the heads were seen, in milliseconds since the
	// Unix epoch (JavaScript Date.now(); cbor-x sends it as a float64).
	Timestamp float64 `cbor:"timestamp"`
}

// Message is one protocol message. Like upstream's union of message types
// it is one flat record; which fields are used depends on Type (see the
// Type constants). Zero fields are absent on the wire.
type Message struct {
	// Type says what the message is; "type" on the wire.
	Type Type

	// SenderID is the peer id of the sender as the sender claims it;
	// "senderId". It proves nothing. Ephemeral messages keep the
	// original sender's id when relayed.
	SenderID string

	// TargetID is the peer id of the recipient; "targetId". Every type
	// but join carries it.
	TargetID string

	// PeerMetadata presents the sender (join, peer); "peerMetadata".
	// Decode also accepts the key "metadata" when "peerMetadata" is
	// absent; Encode never writes "metadata".
	PeerMetadata *PeerMetadata

	// SupportedProtocolVersions lists the versions a joining peer speaks
	// (join); "supportedProtocolVersions". Nil means absent, which
	// upstream servers treat as ["1"]; see SelectProtocolVersion.
	SupportedProtocolVersions []string

	// SelectedProtocolVersion is the version the accepting side chose
	// (peer); "selectedProtocolVersion".
	SelectedProtocolVersion string

	// ErrorMessage describes the problem (error); "message".
	ErrorMessage string

	// DocumentID is the document the message is about (request, sync,
	// doc-unavailable, ephemeral, remote-heads-changed); "documentId".
	DocumentID DocumentID

	// Data is an Automerge sync message (request, sync) or a CBOR-encoded
	// application value (ephemeral); "data", a CBOR byte string. Upstream
	// refuses to send it empty.
	Data []byte

	// SessionID is a random id the ephemeral sender picked at startup
	// (ephemeral); "sessionId".
	SessionID string

	// Count numbers the sender's ephemeral messages within SessionID,
	// from 1 (ephemeral); "count". Receivers drop messages whose
	// (SenderID, SessionID) they have seen with an equal or higher count.
	Count uint64

	// Add and Remove are storage ids to subscribe to or unsubscribe from
	// (remote-subscription-change); "add", "remove". Either may be
	// absent.
	Add, Remove []string

	// NewHeads maps storage ids to their heads for DocumentID
	// (remote-heads-changed); "newHeads". Upstream sends one entry.
	NewHeads map[string]HeadsAtTime
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53-1: the
// largest count a JavaScript peer can hold exactly.
const maxSafeInteger = 1<<53 - 1

// Validate checks that m carries the fields upstream always sends for its
// type, and that any document id is well-formed:
//
//   - join: senderId. supportedProtocolVersions may be absent: upstream's
//     server then assumes "1" (see SelectProtocolVersion).
//   - peer: senderId, targetId, selectedProtocolVersion.
//   - error: senderId, message.
//   - request, sync: senderId, targetId, documentId, non-empty data.
//   - doc-unavailable: senderId, targetId, documentId.
//   - ephemeral: senderId, targetId, documentId, non-empty data, sessionId,
//     count of at least 1 and at most 2^53-1.
//   - leave: senderId.
//   - remote-subscription-change: senderId, targetId.
//   - remote-heads-changed: senderId, targetId, documentId, newHeads.
//
// A message of an unknown type is valid: callers ignore it. Fields a type
// does not use are not checked. Errors wrap ErrMissingType,
// ErrMissingField, ErrBadField or ErrBadDocumentID.
func (m Message) Validate() error {
	v := validator{m: m}
	switch m.Type {
	case "":
		return ErrMissingType
	case TypeJoin, TypeLeave:
		v.need("senderId", m.SenderID != "")
	case TypePeer:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
		v.need("selectedProtocolVersion", m.SelectedProtocolVersion != "")
	case TypeError:
		v.need("senderId", m.SenderID != "")
		v.need("message", m.ErrorMessage != "")
	case TypeRequest, TypeSync:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
		v.documentID()
		v.need("data", len(m.Data) > 0)
	case TypeDocUnavailable:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
		v.documentID()
	case TypeEphemeral:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
		v.documentID()
		v.need("data", len(m.Data) > 0)
		v.need("sessionId", m.SessionID != "")
		v.need("count", m.Count > 0)
		if v.err == nil && m.Count > maxSafeInteger {
			v.err = fmt.Errorf("%w: ephemeral message count %d exceeds 2^53-1", ErrBadField, m.Count)
		}
	case TypeRemoteSubscriptionChange:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
	case TypeRemoteHeadsChanged:
		v.need("senderId", m.SenderID != "")
		v.need("targetId", m.TargetID != "")
		v.documentID()
		v.need("newHeads", m.NewHeads != nil)
	}
	return v.err
}

// validator collects the first problem Validate finds.
type validator struct {
	m   Message
	err error
}

// need records a missing field unless ok.
func (v *validator) need(field string, ok bool) {
	if v.err == nil && !ok {
		v.err = fmt.Errorf("%w: %s message needs %q", ErrMissingField, v.m.Type, field)
	}
}

// documentID checks the message's document id.
func (v *validator) documentID() {
	if v.err != nil {
		return
	}
	if v.m.DocumentID == "" {
		v.need("documentId", false)
		return
	}
	if _, err := documentIDBytes(string(v.m.DocumentID)); err != nil {
		v.err = fmt.Errorf("%s message: %w", v.m.Type, err)
	}
}

// SelectProtocolVersion picks the protocol version to answer a join with,
// as upstream's WebSocketServerAdapter does: ProtocolVersion if supported
// lists it or is nil (a client too old to send the field), otherwise none;
// then the answer is an error message and a close.
func SelectProtocolVersion(supported []string) (version string, ok bool) {
	if supported == nil || slices.Contains(supported, ProtocolVersion) {
		return ProtocolVersion, true
	}
	return "", false
}
