package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

// Format is the header's format field of this version.
const Format = "veche-bundle/1"

// ContentType is the media type of a bundle over HTTP.
const ContentType = "application/vnd.veche.bundle"

// maxHeader bounds the header line.
const maxHeader = 1 << 20

// DefaultMaxSize is the largest payload Read accepts unless told otherwise.
const DefaultMaxSize = 64 << 20

// Errors of reading and checking bundles; every error Read and Check
// return wraps one of them.
var (
	// ErrMalformed: not a bundle, or a header that does not parse.
	ErrMalformed = errors.New("not a veche bundle")
	// ErrTruncated: the payload is shorter than the header says.
	ErrTruncated = errors.New("bundle is truncated")
	// ErrDamaged: the payload does not match its checksum or count, or
	// data follows it.
	ErrDamaged = errors.New("bundle is damaged or was altered")
	// ErrTooLarge: the payload is over the reader's limit.
	ErrTooLarge = errors.New("bundle is too large")
	// ErrOutOfOrder: the changes continue from changes the receiver does
	// not hold; an earlier bundle must be imported first.
	ErrOutOfOrder = errors.New("bundle continues from changes this replica does not have")
	// ErrForeign: the bundle holds another document's history.
	ErrForeign = errors.New("bundle holds another document's history")
)

// Header is the first line of a bundle.
type Header struct {
	Format  string          `json:"format"`
	Council wire.DocumentID `json:"council"`
	Before  []string        `json:"before"`
	After   []string        `json:"after"`
	Count   int             `json:"count"`
	Size    int64           `json:"size"`
	SHA256  string          `json:"sha256"`
	Created time.Time       `json:"created"`
}

// A Bundle is a header and the changes it carries.
type Bundle struct {
	Header
	payload []byte   // Count change chunks
	changes []change // their hashes and dependencies, in order
}

// Export makes the bundle of doc, the council document id, carrying the
// changes not in since's history (all of them when since is empty).
// Heads in since that doc does not hold are ignored: the bundle then
// carries a little more than needed, which a receiver skips.
func Export(id wire.DocumentID, doc *automerge.Doc, since []automerge.ChangeHash, now time.Time) (*Bundle, error) {
	var known []automerge.ChangeHash
	for _, h := range since {
		if _, err := doc.Change(h); err == nil {
			known = append(known, h)
		}
	}
	changes, err := doc.Changes(known...)
	if err != nil {
		return nil, fmt.Errorf("bundle: reading changes: %w", err)
	}
	payload := automerge.SaveChanges(changes)
	sum := sha256.Sum256(payload)
	return &Bundle{
		Header: Header{
			Format: Format, Council: id,
			Before: hexHashes(known), After: hexHashes(doc.Heads()),
			Count: len(changes), Size: int64(len(payload)), SHA256: hex.EncodeToString(sum[:]),
			Created: now.UTC().Truncate(time.Second),
		},
		payload: payload,
	}, nil
}

// WriteTo writes the bundle in its file format.
func (b *Bundle) WriteTo(w io.Writer) (int64, error) {
	head, err := json.Marshal(b.Header)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(append(head, '\n'))
	if err != nil {
		return int64(n), err
	}
	m, err := w.Write(b.payload)
	return int64(n + m), err
}

// Bytes returns the bundle in its file format.
func (b *Bundle) Bytes() []byte {
	var buf bytes.Buffer
	_, _ = b.WriteTo(&buf)
	return buf.Bytes()
}

// Read reads one bundle from r, whose payload may be at most maxSize
// bytes (<= 0: DefaultMaxSize). It checks the header, the length, the
// checksum and the count, and that nothing follows the payload.
func Read(r io.Reader, maxSize int64) (*Bundle, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	br := bufio.NewReader(io.LimitReader(r, maxHeader+maxSize+1))
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxHeader:
		return nil, fmt.Errorf("%w: no header line", ErrMalformed)
	case err == io.EOF && len(line) == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrMalformed)
	case err == io.EOF:
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte(`{"format":"veche-bundle/`)) {
			return nil, fmt.Errorf("%w: it ends inside the header", ErrTruncated)
		}
		return nil, fmt.Errorf("%w: no header line", ErrMalformed)
	case err != nil:
		return nil, err
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Format != Format {
		if strings.HasPrefix(h.Format, "veche-bundle/") {
			return nil, fmt.Errorf("%w: format %q: this build reads %s", ErrMalformed, h.Format, Format)
		}
		return nil, fmt.Errorf("%w: header has no format %q", ErrMalformed, Format)
	}
	if _, err := wire.ParseDocumentID(string(h.Council)); err != nil {
		return nil, fmt.Errorf("%w: council: %v", ErrMalformed, err)
	}
	if h.Size < 0 || h.Count < 0 {
		return nil, fmt.Errorf("%w: negative size or count", ErrMalformed)
	}
	if h.Size > maxSize {
		return nil, fmt.Errorf("%w: %d bytes of changes, over the limit of %d", ErrTooLarge, h.Size, maxSize)
	}
	for _, hs := range [][]string{h.Before, h.After} {
		if _, err := parseHashes(hs); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	payload := make([]byte, h.Size)
	if n, err := io.ReadFull(br, payload); err != nil {
		return nil, fmt.Errorf("%w: the header says %d bytes of changes, the file holds %d", ErrTruncated, h.Size, n)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data follows the changes", ErrDamaged)
	}
	sum := sha256.Sum256(payload)
	if hex.EncodeToString(sum[:]) != strings.ToLower(h.SHA256) {
		return nil, fmt.Errorf("%w: the checksum does not match the changes", ErrDamaged)
	}
	changes, err := parseChanges(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: the changes do not parse: %v", ErrDamaged, err)
	}
	if len(changes) != h.Count {
		return nil, fmt.Errorf("%w: the header says %d changes, the payload holds %d", ErrDamaged, h.Count, len(changes))
	}
	return &Bundle{Header: h, payload: payload, changes: changes}, nil
}

// Check reports how many of the bundle's changes doc lacks, or why the
// bundle does not fit doc (see the package comment). It changes nothing
// and runs in Go: the Automerge core sees no byte of a bundle that fails.
func (b *Bundle) Check(doc *automerge.Doc) (int, error) {
	has := func(h automerge.ChangeHash) bool {
		_, err := doc.Change(h)
		return err == nil
	}
	inBundle := make(map[automerge.ChangeHash]bool, len(b.changes))
	for _, c := range b.changes {
		inBundle[c.hash] = true
	}
	hasHistory := len(doc.Heads()) > 0
	missing := 0
	for _, c := range b.changes {
		if has(c.hash) {
			continue
		}
		if len(c.deps) == 0 && hasHistory {
			return 0, fmt.Errorf("%w: it starts a history of its own (change %s), not council %s's", ErrForeign, short(c.hash), b.Council)
		}
		for _, d := range c.deps {
			if !inBundle[d] && !has(d) {
				return 0, fmt.Errorf("%w: change %s needs change %s; import the bundle that carries it first, or ask for one exported --since what this replica holds", ErrOutOfOrder, short(c.hash), short(d))
			}
		}
		missing++
	}
	after, _ := parseHashes(b.After)
	for _, h := range after {
		if !inBundle[h] && !has(h) {
			return 0, fmt.Errorf("%w: its heads after import name change %s, which neither the bundle nor this replica holds", ErrDamaged, short(h))
		}
	}
	return missing, nil
}

// Apply adds to doc the changes of the bundle it lacks, after Check, and
// returns how many it added: importing a bundle twice adds nothing the
// second time. On error doc is unchanged.
func (b *Bundle) Apply(doc *automerge.Doc) (int, error) {
	missing, err := b.Check(doc)
	if err != nil || missing == 0 {
		return 0, err
	}
	fork, err := doc.Fork()
	if err != nil {
		return 0, err
	}
	if err := fork.LoadIncremental(b.payload); err != nil {
		return 0, fmt.Errorf("%w: the changes do not load: %v", ErrDamaged, err)
	}
	if _, err := doc.Merge(fork); err != nil {
		return 0, err
	}
	return missing, nil
}

// Payload returns the bundle's changes, concatenated.
func (b *Bundle) Payload() []byte { return b.payload }

// ParseHeads parses hex change hashes.
func ParseHeads(hs []string) ([]automerge.ChangeHash, error) { return parseHashes(hs) }

func parseHashes(hs []string) ([]automerge.ChangeHash, error) {
	out := make([]automerge.ChangeHash, 0, len(hs))
	for _, s := range hs {
		h, err := automerge.NewChangeHash(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a change hash", s)
		}
		out = append(out, h)
	}
	return out, nil
}

func hexHashes(hs []automerge.ChangeHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func short(h automerge.ChangeHash) string { return h.String()[:12] }
