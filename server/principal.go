package server

// Principal is who a connection speaks for, as proved by the token it
// presented when it connected. A peer's senderId proves nothing; the
// principal is bound to the connection for its whole life.
type Principal struct {
	// ID names the principal in logs and audit records; never a secret.
	ID string
	// Anonymous is true for a connection that presented no token, accepted
	// only when the relay runs with anonymous access enabled.
	Anonymous bool
}

// AnonymousPrincipal is bound to connections without a token when
// anonymous access is enabled.
var AnonymousPrincipal = Principal{ID: "anonymous", Anonymous: true}

// Access decides what a principal may do with a document. The relay asks
// before it serves a document to a peer and before it applies a peer's
// changes.
type Access interface {
	// CanRead reports whether p may receive the document.
	CanRead(p Principal, documentID string) bool
	// CanWrite reports whether p may change the document, or create it.
	CanWrite(p Principal, documentID string) bool
}

// AllowAll is the Access of a relay with no access control: everyone may
// read and write everything. It exists for anonymous relays on trusted
// networks and for tests.
type AllowAll struct{}

// CanRead always reports true.
func (AllowAll) CanRead(Principal, string) bool { return true }

// CanWrite always reports true.
func (AllowAll) CanWrite(Principal, string) bool { return true }
