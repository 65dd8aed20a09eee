package wire

import "errors"

// Errors returned by Decode and Encode. Decode wraps them with detail; test
// for them with errors.Is.
var (
	// ErrFrameTooLarge means a frame is longer than the maximum frame size.
	// It is checked before any decoding.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrNotCBOR means the bytes are not one well-formed, valid CBOR map:
	// empty input, truncated or malformed CBOR, a top-level value that is
	// not a map, trailing bytes after the map, or invalid UTF-8 text.
	ErrNotCBOR = errors.New("wire: not a CBOR map")

	// ErrTooComplex means a frame exceeds a structural decoding limit:
	// nesting depth, array length or map size (see doc.go).
	ErrTooComplex = errors.New("wire: frame too complex")

	// ErrDuplicateKey means a CBOR map in the frame repeats a key.
	ErrDuplicateKey = errors.New("wire: duplicate map key")

	// ErrBadField means a known field has the wrong CBOR type or an
	// impossible value, such as a text "data" or a negative "count", or
	// that the frame holds a float NaN or infinity anywhere.
	ErrBadField = errors.New("wire: bad field")

	// ErrMissingType means a message has no "type", or an empty one.
	ErrMissingType = errors.New("wire: message has no type")
)

// Errors returned by Message.Validate, wrapped with the message type and
// field name.
var (
	// ErrMissingField means a field that upstream always sends for the
	// message's type is absent or empty.
	ErrMissingField = errors.New("wire: missing field")
)

// Errors returned by ParseDocumentID and ParseURL, wrapped with detail.
var (
	// ErrBadDocumentID means a string is not a document id: not base58
	// (bitcoin alphabet), a bad checksum, or a payload that is not 16
	// bytes.
	ErrBadDocumentID = errors.New("wire: bad document id")

	// ErrBadURL means a string is not an automerge URL:
	// "automerge:<documentId>" with an optional "#head|head…" section.
	ErrBadURL = errors.New("wire: bad automerge URL")
)
