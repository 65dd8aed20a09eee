package server

import "github.com/automerge/automerge-go"

// PrincipalKind says what a principal is.
type PrincipalKind string

// The kinds of principal.
const (
	// KindAnonymous is a connection without a token, accepted only when the
	// relay runs with anonymous access on.
	KindAnonymous PrincipalKind = "anonymous"
	// KindOperator runs the relay: creates councils and peer links, and
	// holds no grant to council content unless given one.
	KindOperator PrincipalKind = "operator"
	// KindMember is a member of one council (Council, Member).
	KindMember PrincipalKind = "member"
	// KindPeer is another relay connected through a peer link.
	KindPeer PrincipalKind = "peer"
)

// Principal is who a connection speaks for, as proved by the token it
// presented when it connected. A peer's senderId proves nothing; the
// principal is bound to the connection for its whole life.
type Principal struct {
	// ID names the principal in logs and audit records; never a secret.
	ID string
	// Kind is what the principal is.
	Kind PrincipalKind
	// Council is the documentId of a member's home council.
	Council string
	// Member is a member's id in its home council.
	Member string
	// Anonymous is true for KindAnonymous.
	Anonymous bool
}

// AnonymousPrincipal is bound to connections without a token when
// anonymous access is enabled.
var AnonymousPrincipal = Principal{ID: "anonymous", Kind: KindAnonymous, Anonymous: true}

// MemberPrincipal is the principal of member of council.
func MemberPrincipal(council, member string) Principal {
	return Principal{ID: "member:" + council + "/" + member, Kind: KindMember, Council: council, Member: member}
}

// OperatorPrincipal is the principal of the relay's operator.
var OperatorPrincipal = Principal{ID: "operator", Kind: KindOperator}

// Access decides what a principal may do with a document. The relay asks
// before it serves a document to a peer and before it applies a peer's
// changes.
type Access interface {
	// CanRead reports whether p may receive the document.
	CanRead(p Principal, documentID string) bool
	// CanWrite reports whether p may change the document.
	CanWrite(p Principal, documentID string) bool
	// CanCreate reports whether p may create a new document over the
	// websocket.
	CanCreate(p Principal) bool
}

// CommitHook is an optional interface of an Access: a policy that derives
// its grants from documents (Grants, from the verified fact logs of
// council documents) hears of every commit. Committed is called with the
// document's lock held, after the commit and before any peer is answered:
// it may read doc but must not keep it, nor call back into the relay's
// document.
type CommitHook interface {
	Committed(documentID string, doc *automerge.Doc)
}

// CreationQuota is an optional interface of an Access that bounds the
// documents a principal may create over the websocket.
type CreationQuota interface {
	// QuotaFull reports whether p may create no more documents.
	QuotaFull(p Principal) bool
	// Created records that p created documentID.
	Created(p Principal, documentID string)
}

// AllowAll is the Access of a relay with no access control: everyone may
// read and write everything. It exists for anonymous relays on trusted
// networks and for tests.
type AllowAll struct{}

// CanRead always reports true.
func (AllowAll) CanRead(Principal, string) bool { return true }

// CanWrite always reports true.
func (AllowAll) CanWrite(Principal, string) bool { return true }

// CanCreate always reports true.
func (AllowAll) CanCreate(Principal) bool { return true }
