package wire

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// DocumentID identifies an Automerge document, as automerge-repo's
// DocumentId does: the bs58check encoding (bitcoin base58 alphabet, a 4-byte
// double-SHA-256 checksum) of 16 bytes, which Repo.create fills with a random
// (version 4) UUID. For example "4KiMYeCRzQoq3QknKaKoAj4btvqR".
//
// A DocumentID decoded from the wire is whatever the peer sent; check it with
// ParseDocumentID (Message.Validate does) before trusting its form.
type DocumentID string

// URLPrefix starts every automerge URL.
const URLPrefix = "automerge:"

// DocumentIDSize is the length of a document id's binary form.
const DocumentIDSize = 16

// maxDocumentIDLen is the longest base58 text for DocumentIDSize bytes plus
// the checksum; longer input is rejected before the quadratic decode.
const maxDocumentIDLen = 28

// maxHeadLen bounds one head in a URL's heads section. A head is the
// bs58check of a 32-byte change hash, at most 50 characters; upstream
// accepts any payload length, so allow some slack.
const maxHeadLen = 128

// NewDocumentID returns a fresh random document id, made as
// automerge-repo's generateAutomergeUrl makes one: a random version 4 UUID,
// bs58check-encoded.
func NewDocumentID() DocumentID {
	var b [DocumentIDSize]byte
	_, _ = rand.Read(b[:])  // never fails; see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return DocumentID(base58CheckEncode(b[:]))
}

// DocumentIDFromBytes returns the document id whose binary form is b. It
// fails unless len(b) is DocumentIDSize.
func DocumentIDFromBytes(b []byte) (DocumentID, error) {
	if len(b) != DocumentIDSize {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBadDocumentID, len(b), DocumentIDSize)
	}
	return DocumentID(base58CheckEncode(b)), nil
}

// ParseDocumentID checks that s is a bare document id (no "automerge:"
// prefix) and returns it. Errors wrap ErrBadDocumentID and say what is
// wrong: empty, too long, a character outside the base58 alphabet, a bad
// checksum, or a payload that is not 16 bytes.
//
// Upstream's isValidDocumentId accepts a checksummed payload of any length;
// ParseDocumentID accepts exactly the ids automerge-repo generates.
func ParseDocumentID(s string) (DocumentID, error) {
	if _, err := documentIDBytes(s); err != nil {
		return "", err
	}
	return DocumentID(s), nil
}

// documentIDBytes decodes and checks a document id.
func documentIDBytes(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadDocumentID)
	}
	if len(s) > maxDocumentIDLen {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrBadDocumentID, len(s), maxDocumentIDLen)
	}
	b, err := base58CheckDecode(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadDocumentID, s, err)
	}
	if len(b) != DocumentIDSize {
		return nil, fmt.Errorf("%w %q: %d-byte payload, want %d", ErrBadDocumentID, s, len(b), DocumentIDSize)
	}
	return b, nil
}

// ParseURL returns the document id of an automerge URL,
// "automerge:<documentId>", as upstream's parseAutomergeUrl reads it. An
// optional heads section, "#head|head…" (each head bs58check), names a
// version of the document; it is checked and then ignored. Errors wrap
// ErrBadURL, and also ErrBadDocumentID when the id is the problem.
func ParseURL(u string) (DocumentID, error) {
	id, _, err := parseURL(u)
	return id, err
}

// parseURL splits an automerge URL into its document id and heads. heads is
// nil when there is no heads section and empty when the section is.
func parseURL(u string) (id DocumentID, heads []string, err error) {
	rest, ok := strings.CutPrefix(u, URLPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: %q does not start with %q", ErrBadURL, u, URLPrefix)
	}
	idPart, headsPart, hasHeads := strings.Cut(rest, "#")
	if strings.Contains(headsPart, "#") {
		return "", nil, fmt.Errorf("%w: more than one heads section", ErrBadURL)
	}
	id, err = ParseDocumentID(idPart)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if !hasHeads {
		return id, nil, nil
	}
	heads = []string{}
	if headsPart == "" {
		return id, heads, nil
	}
	for head := range strings.SplitSeq(headsPart, "|") {
		if err := checkHead(head); err != nil {
			return "", nil, fmt.Errorf("%w: head %q: %w", ErrBadURL, head, err)
		}
		heads = append(heads, head)
	}
	return id, heads, nil
}

// checkHead checks one bs58check-encoded head.
func checkHead(head string) error {
	if len(head) > maxHeadLen {
		return errors.New("too long")
	}
	_, err := base58CheckDecode(head)
	return err
}

// URL returns the automerge URL of the document, "automerge:<id>".
func (id DocumentID) URL() string {
	return URLPrefix + string(id)
}

// Bytes returns the 16-byte binary form of the id, or nil if the id is not
// valid (see ParseDocumentID).
func (id DocumentID) Bytes() []byte {
	b, err := documentIDBytes(string(id))
	if err != nil {
		return nil
	}
	return b
}

// Valid reports whether ParseDocumentID accepts the id.
func (id DocumentID) Valid() bool {
	_, err := documentIDBytes(string(id))
	return err == nil
}
