package crdt

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// Signer is a member acting with one of their keys: every operation that
// records a fact signs it with Key, and the record names Member as the
// actor and Key's public half as the signing key. The key counts only if
// the council's log says it belongs to Member (see the package
// documentation, "Keys").
//
// Custodial says that a relay holds Key on the member's behalf (members
// who use only the REST API or the CLI against a relay). It matters when
// the key is introduced — at founding, admission or AddKey — where the
// record certifies the key as custodial, so every view shows which facts
// rest on a relay's word.
type Signer struct {
	// Council is the id of the council whose document the operation
	// writes (for a pledge from another council, the council of the need;
	// for a delegate's seat, the federation).
	Council   string
	Member    string             // the acting member's id
	Key       ed25519.PrivateKey // the member's device (or custodial) key
	Custodial bool               // Key is held by a relay for the member

	// Others resolves other councils' verified views while the operation
	// validates, as in ReadLog: with it, a delegate seated in a federation
	// (whose seat rests on their home council's log) acts there. Nil: no
	// seat counts, and such a delegate is no member.
	Others Councils

	// signed is a record the member signed elsewhere (ApplyRecord): the
	// operation must rebuild exactly this record, and carries it as is.
	signed *Record
}

// PublicKey returns the signer's public key in the encoding records use.
func (s Signer) PublicKey() string {
	if s.signed != nil {
		return s.signed.Key
	}
	if len(s.Key) != ed25519.PrivateKeySize {
		return ""
	}
	return EncodeKey(s.Key.Public().(ed25519.PublicKey))
}

// valid reports whether the signer can sign at all.
func (s Signer) valid() bool {
	return ValidID(s.Member) && (len(s.Key) == ed25519.PrivateKeySize || s.signed != nil)
}

// NewKey returns a fresh Ed25519 private key from crypto/rand.
func NewKey() ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("crdt: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return priv
}

// NewSigner returns a signer for member with a fresh key.
func NewSigner(member string, custodial bool) Signer {
	return Signer{Member: member, Key: NewKey(), Custodial: custodial}
}

// EncodeKey encodes a public key as records carry it: unpadded base64url
// of its 32 bytes (43 characters).
func EncodeKey(pub ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub)
}

// DecodeKey decodes a public key encoded by EncodeKey.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key %q is not unpadded base64url: %w", s, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
