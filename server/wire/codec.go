package wire

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// DefaultMaxFrameSize is the frame size limit Decode applies when given
// none: 8 MiB.
const DefaultMaxFrameSize = 8 << 20

// Structural limits on a decoded frame, enforced while checking that it is
// well-formed, before anything is allocated for it. They bound the memory a
// frame can make Decode allocate (about 1024×1024 strings at worst) no
// matter how large the frame limit is, and comfortably exceed anything
// upstream sends: its deepest message nests four levels
// (newHeads → storage id → heads → head), and its arrays and maps hold a
// handful of entries.
const (
	maxNestedLevels  = 16
	maxArrayElements = 1024
	maxMapPairs      = 1024
)

// decMode decodes frames: limits as above, duplicate keys rejected,
// case-sensitive keys (JavaScript's are), valid UTF-8, no NaN or infinity.
// Indefinite lengths and tags are allowed, as cbor-x's decoder allows them.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   maxNestedLevels,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsAllowed,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		UTF8:              cbor.UTF8RejectInvalid,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorNone, // unknown keys are ignored
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// encMode encodes frames deterministically: map keys and struct fields in
// bytewise lexical order of their encoding, definite lengths, float64 for
// floats, nil slices and maps that are written at all as empty ones.
var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortBytewiseLexical,
		NilContainers: cbor.NilContainerAsEmpty,
		IndefLength:   cbor.IndefLengthForbidden,
		ShortestFloat: cbor.ShortestFloatNone,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// wireMessage is Message as it is laid out in CBOR. Slices and maps use
// omitzero, not omitempty, so that an empty one survives a round trip:
// upstream treats an absent supportedProtocolVersions differently from an
// empty one. Count uses omitzero because omitempty does not apply to a
// cbor.Marshaler.
type wireMessage struct {
	Type                      Type                   `cbor:"type,omitempty"`
	SenderID                  string                 `cbor:"senderId,omitempty"`
	TargetID                  string                 `cbor:"targetId,omitempty"`
	PeerMetadata              *PeerMetadata          `cbor:"peerMetadata,omitempty"`
	Metadata                  *PeerMetadata          `cbor:"metadata,omitempty"` // decode only
	SupportedProtocolVersions []string               `cbor:"supportedProtocolVersions,omitzero"`
	SelectedProtocolVersion   string                 `cbor:"selectedProtocolVersion,omitempty"`
	ErrorMessage              string                 `cbor:"message,omitempty"`
	DocumentID                DocumentID             `cbor:"documentId,omitempty"`
	Data                      []byte                 `cbor:"data,omitzero"`
	SessionID                 string                 `cbor:"sessionId,omitempty"`
	Count                     jsUint                 `cbor:"count,omitzero"`
	Add                       []string               `cbor:"add,omitzero"`
	Remove                    []string               `cbor:"remove,omitzero"`
	NewHeads                  map[string]HeadsAtTime `cbor:"newHeads,omitzero"`
}

// Decode decodes one websocket frame into a Message. A frame longer than
// maxFrameSize (DefaultMaxFrameSize if maxFrameSize <= 0) is rejected
// before it is looked at.
//
// The frame must hold exactly one CBOR map. Keys Message does not know are
// ignored, as are CBOR null and undefined values (cbor-x writes undefined for
// absent optional fields). Any non-empty type is accepted, so a message of a
// type this package does not know decodes fine; Decode does not check that
// the fields a type needs are present: that is Validate's job.
//
// Errors wrap ErrFrameTooLarge, ErrNotCBOR, ErrTooComplex,
// ErrDuplicateKey, ErrBadField or ErrMissingType. Decode never panics on
// bad input and does not retain frame.
func Decode(frame []byte, maxFrameSize int) (Message, error) {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if len(frame) > maxFrameSize {
		return Message{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(frame), maxFrameSize)
	}
	if len(frame) == 0 {
		return Message{}, fmt.Errorf("%w: empty frame", ErrNotCBOR)
	}
	if major := frame[0] >> 5; major != majorMap {
		return Message{}, fmt.Errorf("%w: top-level value is %s", ErrNotCBOR, majorNames[major])
	}
	// Check well-formedness and limits first, so that every error found
	// there, typed or not, is told apart from a field of the wrong type.
	if err := decMode.Wellformed(frame); err != nil {
		return Message{}, classifyWellformed(err)
	}
	var w wireMessage
	if err := decMode.Unmarshal(frame, &w); err != nil {
		return Message{}, classifyUnmarshal(err)
	}
	if w.Type == "" {
		return Message{}, ErrMissingType
	}
	return w.message(), nil
}

// Encode encodes m as one websocket frame that upstream's cbor-x decoder
// reads as the object upstream itself would send: a CBOR map with text
// keys, Data as a plain byte string.
// Zero strings and numbers, nil pointers, nil slices and nil maps are left
// out; empty non-nil slices and maps are written. The "metadata" alias is
// never written. Like cbor-x, Encode writes a Count above 2^32-1 as a
// float64 (cbor-x would read an 8-byte integer as a BigInt). Encode fails
// only if m has no type (ErrMissingType) or a Count above 2^53-1, which no
// JavaScript peer could hold (ErrBadField).
func Encode(m Message) ([]byte, error) {
	if m.Type == "" {
		return nil, ErrMissingType
	}
	w := wireMessage{
		Type:                      m.Type,
		SenderID:                  m.SenderID,
		TargetID:                  m.TargetID,
		PeerMetadata:              m.PeerMetadata,
		SupportedProtocolVersions: m.SupportedProtocolVersions,
		SelectedProtocolVersion:   m.SelectedProtocolVersion,
		ErrorMessage:              m.ErrorMessage,
		DocumentID:                m.DocumentID,
		Data:                      m.Data,
		SessionID:                 m.SessionID,
		Count:                     jsUint(m.Count),
		Add:                       m.Add,
		Remove:                    m.Remove,
		NewHeads:                  m.NewHeads,
	}
	if m.Count > maxSafeInteger {
		return nil, fmt.Errorf("%w: count %d exceeds 2^53-1", ErrBadField, m.Count)
	}
	b, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("wire: encode %s message: %w", m.Type, err)
	}
	return b, nil
}

// message converts a decoded wireMessage, resolving the metadata alias and
// giving every HeadsAtTime non-nil Heads (Encode writes nil ones as empty
// arrays, so this keeps Decode(Encode(m)) equal to m).
func (w *wireMessage) message() Message {
	m := Message{
		Type:                      w.Type,
		SenderID:                  w.SenderID,
		TargetID:                  w.TargetID,
		PeerMetadata:              w.PeerMetadata,
		SupportedProtocolVersions: w.SupportedProtocolVersions,
		SelectedProtocolVersion:   w.SelectedProtocolVersion,
		ErrorMessage:              w.ErrorMessage,
		DocumentID:                w.DocumentID,
		Data:                      w.Data,
		SessionID:                 w.SessionID,
		Count:                     uint64(w.Count),
		Add:                       w.Add,
		Remove:                    w.Remove,
		NewHeads:                  w.NewHeads,
	}
	if m.PeerMetadata == nil {
		m.PeerMetadata = w.Metadata
	}
	for k, h := range m.NewHeads {
		if h.Heads == nil {
			h.Heads = []string{}
			m.NewHeads[k] = h
		}
	}
	return m
}

// jsUint is a non-negative integer as JavaScript peers read and write it.
// cbor-x writes whole numbers up to 2^32-1 as CBOR integers and larger ones
// as float64, and reads every 8-byte CBOR integer as a BigInt, not a number.
// So jsUint is written the way cbor-x writes it, and read from either form as
// long as it is a whole number no larger than 2^53-1 (Number.MAX_SAFE_INTEGER).
// Null and undefined read as 0.
type jsUint uint64

// MarshalCBOR implements cbor.Marshaler.
func (n jsUint) MarshalCBOR() ([]byte, error) {
	switch {
	case n <= math.MaxUint32:
		return encMode.Marshal(uint64(n))
	case n <= maxSafeInteger:
		return encMode.Marshal(float64(n))
	default:
		return nil, fmt.Errorf("%w: count %d exceeds 2^53-1", ErrBadField, uint64(n))
	}
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (n *jsUint) UnmarshalCBOR(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: count is empty", ErrBadField)
	case b[0]>>5 == majorUint:
		var u uint64
		if err := decMode.Unmarshal(b, &u); err != nil {
			return fmt.Errorf("%w: count: %w", ErrBadField, err)
		}
		if u > maxSafeInteger {
			return fmt.Errorf("%w: count %d exceeds 2^53-1", ErrBadField, u)
		}
		*n = jsUint(u)
		return nil
	case b[0] == 0xf6 || b[0] == 0xf7: // null, undefined
		*n = 0
		return nil
	case b[0] == 0xf9 || b[0] == 0xfa || b[0] == 0xfb: // float16, 32, 64
		var f float64
		if err := decMode.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%w: count: %w", ErrBadField, err)
		}
		if f < 0 || f > maxSafeInteger || f != math.Trunc(f) {
			return fmt.Errorf("%w: count %v is not a whole number in [0, 2^53-1]", ErrBadField, f)
		}
		*n = jsUint(f)
		return nil
	}
	return fmt.Errorf("%w: count is %s, not a number", ErrBadField, majorNames[b[0]>>5])
}

// CBOR major types.
const (
	majorUint = 0
	majorMap  = 5
)

// majorNames names CBOR major types in errors.
var majorNames = [8]string{
	"an unsigned integer", "a negative integer", "a byte string", "a text string",
	"an array", "a map", "a tag", "a simple value or float",
}

// classifyWellformed wraps an error from checking well-formedness: a limit
// exceeded, a value never accepted (NaN, infinity), or else not CBOR.
func classifyWellformed(err error) error {
	var (
		nested       *cbor.MaxNestedLevelError
		arrayElems   *cbor.MaxArrayElementsError
		mapPairs     *cbor.MaxMapPairsError
		unacceptable *cbor.UnacceptableDataItemError
	)
	switch {
	case errors.As(err, &nested), errors.As(err, &arrayElems), errors.As(err, &mapPairs):
		return fmt.Errorf("%w: %w", ErrTooComplex, err)
	case errors.As(err, &unacceptable):
		return fmt.Errorf("%w: %w", ErrBadField, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: truncated", ErrNotCBOR)
	default:
		return fmt.Errorf("%w: %w", ErrNotCBOR, err)
	}
}

// classifyUnmarshal wraps an error from decoding a well-formed frame: a
// duplicate key, invalid text, or else a field of the wrong type or value.
func classifyUnmarshal(err error) error {
	var (
		dup      *cbor.DupMapKeyError
		semantic *cbor.SemanticError
	)
	switch {
	case errors.Is(err, ErrBadField):
		return err
	case errors.As(err, &dup):
		return fmt.Errorf("%w: %w", ErrDuplicateKey, err)
	case errors.As(err, &semantic):
		return fmt.Errorf("%w: %w", ErrNotCBOR, err)
	default:
		return fmt.Errorf("%w: %w", ErrBadField, err)
	}
}
