package crdt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// RecordVersion is the version of the record format, the "v" of every
// payload.
const RecordVersion = 1

// recordTag starts the line of a change message that carries a record.
const recordTag = "veche-fact/1 "

// signingDomain is prepended to the payload before signing, so a record
// signature can never be mistaken for a signature over anything else.
const signingDomain = "veche-fact/1\n"

// Bounds of a record, checked before anything else is read.
const (
	maxRecordPayload = 16 << 10 // bytes of payload JSON
	maxArgs          = 32
	maxArgValue      = 8 << 10 // bytes of one argument value
)

// Record is one signed fact: who (By, with Key) did what (Op, Args) to
// which council (Council), when (At, the signer's claim). It travels in the
// message of the Automerge change that writes the fact into the document
// state (see the package documentation, "The fact log").
type Record struct {
	// Council is the id of the council the fact belongs to; empty only in
	// the founding record, whose hash names the council (CouncilID).
	Council string
	// Op is the operation, e.g. OpVote.
	Op Op
	// By is the id of the acting member.
	By string
	// At is when the signer says the fact happened (millisecond precision).
	At time.Time
	// Key is the signing public key, encoded by EncodeKey.
	Key string
	// Args holds the operation's arguments, every value a string (ids,
	// texts, decimal numbers, RFC 3339 times).
	Args map[string]string

	// Payload is the exact byte string that was signed (JSON); set by
	// Sign and by ParseRecord.
	Payload []byte
	// Sig is the Ed25519 signature over signingDomain ‖ Payload.
	Sig []byte
}

// payload is the JSON form of a record. Field order is fixed; args are
// written in sorted key order (encoding/json sorts map keys).
type payload struct {
	V       int               `json:"v"`
	Council string            `json:"council"`
	Op      Op                `json:"op"`
	By      string            `json:"by"`
	At      int64             `json:"at"`
	Key     string            `json:"key"`
	Args    map[string]string `json:"args"`
}

// ID returns the record's identity: hex SHA-256 of its payload. Two
// changes carrying the same record (a replay) carry one fact.
func (r *Record) ID() string {
	sum := sha256.Sum256(r.Payload)
	return hex.EncodeToString(sum[:])
}

// Arg returns the argument key ("" if absent).
func (r *Record) Arg(key string) string { return r.Args[key] }

// sign encodes r's payload and signs it with s.Key. s.Member and s.Key
// become r.By and r.Key.
func (r *Record) sign(s Signer) error {
	if !s.valid() {
		return errors.New("the signer has no valid member id or key")
	}
	r.By, r.Key = s.Member, s.PublicKey()
	r.At = msTime(r.At)
	args := r.Args
	if args == nil {
		args = map[string]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload{V: RecordVersion, Council: r.Council, Op: r.Op, By: r.By, At: r.At.UnixMilli(), Key: r.Key, Args: args}); err != nil {
		return err
	}
	r.Payload = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	r.Sig = ed25519.Sign(s.Key, signed(r.Payload))
	return nil
}

// signed returns the byte string a signature covers.
func signed(payload []byte) []byte {
	return append([]byte(signingDomain), payload...)
}

// Line returns the message line that carries r:
//
//	veche-fact/1 <base64url(payload)> <base64url(signature)>
//
// (unpadded base64url). ParseRecord reverses it.
func (r *Record) Line() string {
	return recordTag + base64.RawURLEncoding.EncodeToString(r.Payload) + " " + base64.RawURLEncoding.EncodeToString(r.Sig)
}

// Message returns the whole change message for r: the human-readable
// summary line (see ParseChangeMessage), then the record line.
func (r *Record) Message() string {
	info := ChangeInfo{Op: r.Op, By: r.By, Args: map[string]string{}}
	for _, k := range summaryArgs {
		if v := r.Args[k]; v != "" && ValidID(v) {
			info.Args[k] = v
		}
	}
	return info.String() + "\n" + r.Line()
}

// summaryArgs are the arguments shown in a change's summary line: ids only.
var summaryArgs = []string{"proposal", "mandate", "member", "offer", "need", "pledge", "minutes", "council", "federation"}

// ErrNoRecord is returned by ParseRecord for a change message that carries
// no record at all (for example a text edit, or a change made by a stock
// client): not a fact, and not a problem by itself.
var ErrNoRecord = errors.New("the message carries no record")

// ParseRecord finds the record line in a change message, decodes it and
// checks its form and its signature against the key it names. It returns
// ErrNoRecord if the message has no record line, and a descriptive error
// for a record that is malformed or badly signed. Whether the key counts
// for the member is decided by the log (see the package documentation).
func ParseRecord(message string) (*Record, error) {
	line := ""
	for _, l := range strings.Split(message, "\n") {
		if strings.HasPrefix(l, recordTag) {
			if line != "" {
				return nil, errors.New("more than one record line")
			}
			line = l
		}
	}
	if line == "" {
		return nil, ErrNoRecord
	}
	parts := strings.Split(strings.TrimPrefix(line, recordTag), " ")
	if len(parts) != 2 {
		return nil, errors.New("record line: want payload and signature")
	}
	if base64.RawURLEncoding.DecodedLen(len(parts[0])) > maxRecordPayload {
		return nil, fmt.Errorf("record payload over %d bytes", maxRecordPayload)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("record payload is not base64url: %w", err)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("record signature is not 64 bytes of base64url")
	}
	r, err := decodePayload(raw)
	if err != nil {
		return nil, err
	}
	r.Sig = sig
	pub, err := DecodeKey(r.Key)
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	if !verifySignature(pub, raw, sig) {
		return nil, errors.New("bad signature")
	}
	return r, nil
}

// goodSignatures remembers signatures already verified, so that reading a
// document again (every operation derives the view it validates against)
// does not verify every record again. It holds digests only and is
// cleared when full.
var goodSignatures = struct {
	sync.Mutex
	m map[[32]byte]struct{}
}{m: map[[32]byte]struct{}{}}

// maxGoodSignatures bounds goodSignatures (about 5 MiB).
const maxGoodSignatures = 1 << 17

// verifySignature checks sig over the record payload raw with pub,
// through goodSignatures.
func verifySignature(pub ed25519.PublicKey, raw, sig []byte) bool {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(raw)
	var d [32]byte
	h.Sum(d[:0])
	goodSignatures.Lock()
	_, ok := goodSignatures.m[d]
	goodSignatures.Unlock()
	if ok {
		return true
	}
	if !ed25519.Verify(pub, signed(raw), sig) {
		return false
	}
	goodSignatures.Lock()
	if len(goodSignatures.m) >= maxGoodSignatures {
		clear(goodSignatures.m)
	}
	goodSignatures.m[d] = struct{}{}
	goodSignatures.Unlock()
	return true
}

// decodePayload decodes and checks a payload strictly: known fields only,
// version 1, valid ids, a time in range, bounded arguments.
func decodePayload(raw []byte) (*Record, error) {
	if !utf8.Valid(raw) {
		return nil, errors.New("record payload is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p payload
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("record payload: %w", err)
	}
	if dec.More() {
		return nil, errors.New("record payload: data after the object")
	}
	switch {
	case p.V != RecordVersion:
		return nil, fmt.Errorf("record version %d, want %d", p.V, RecordVersion)
	case p.Op == "" || !ValidID(string(p.Op)):
		return nil, fmt.Errorf("record operation %q is not valid", p.Op)
	case !ValidID(p.By):
		return nil, fmt.Errorf("record actor %q is not a valid id", p.By)
	case p.Council != "" && !ValidID(p.Council):
		return nil, fmt.Errorf("record council %q is not a valid id", p.Council)
	case len(p.Args) > maxArgs:
		return nil, fmt.Errorf("record has %d arguments, at most %d", len(p.Args), maxArgs)
	}
	at := time.UnixMilli(p.At).UTC()
	if !validTime(at) {
		return nil, fmt.Errorf("record time %d is out of range", p.At)
	}
	for k, v := range p.Args {
		if !ValidID(k) || len(v) > maxArgValue {
			return nil, fmt.Errorf("record argument %q is not valid", k)
		}
	}
	return &Record{Council: p.Council, Op: p.Op, By: p.By, At: at, Key: p.Key, Args: p.Args, Payload: raw}, nil
}

// SignRecord signs a record of operation op, with the given arguments,
// for council at at, as s — what a member's device does to send a fact to
// a relay (ApplyRecord) without writing a document itself. The arguments
// must be exactly those the operation makes (see ApplyRecord).
func SignRecord(s Signer, council string, op Op, at time.Time, args map[string]string) (*Record, error) {
	r := &Record{Council: council, Op: op, At: at, Args: args}
	if err := r.sign(s); err != nil {
		return nil, err
	}
	return r, nil
}
