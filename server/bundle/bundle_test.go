package bundle_test

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wire"
)

var council = wire.NewDocumentID()

// history makes a document with n changes, each setting k<i>.
func history(t *testing.T, doc *automerge.Doc, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := doc.RootMap().Set(fmt.Sprintf("k%d", i), int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Commit(fmt.Sprintf("change %d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func export(t *testing.T, doc *automerge.Doc, since []automerge.ChangeHash) []byte {
	t.Helper()
	b, err := bundle.Export(council, doc, since, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func read(t *testing.T, raw []byte) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Read(bytes.NewReader(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameHeads(a, b []automerge.ChangeHash) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestExportImportSinceAndTwice(t *testing.T) {
	village := automerge.New()
	history(t, village, 0, 5)
	district := automerge.New()

	// The whole history, then only what came since.
	first := read(t, export(t, village, nil))
	if first.Count != 5 || len(first.Before) != 0 || first.Council != council {
		t.Fatalf("header %+v", first.Header)
	}
	if n, err := first.Apply(district); err != nil || n != 5 {
		t.Fatalf("first import: %d, %v", n, err)
	}
	mark := village.Heads()
	history(t, village, 5, 2)
	// A large change, which Automerge stores compressed.
	if err := village.RootMap().Set("big", strings.Repeat("seed potatoes, ", 2000)); err != nil {
		t.Fatal(err)
	}
	if _, err := village.Commit("big"); err != nil {
		t.Fatal(err)
	}
	second := read(t, export(t, village, mark))
	if second.Count != 3 || len(second.Before) != 1 {
		t.Fatalf("since: %+v", second.Header)
	}
	if n, err := second.Apply(district); err != nil || n != 3 || !sameHeads(district.Heads(), village.Heads()) {
		t.Fatalf("second import: %d, %v", n, err)
	}
	// Twice: a no-op.
	for _, b := range []*bundle.Bundle{first, second} {
		if n, err := b.Apply(district); err != nil || n != 0 {
			t.Fatalf("again: %d, %v", n, err)
		}
	}
	if v, _ := district.Path("k6").Get(); v.Int64() != 6 {
		t.Fatalf("k6 = %v", v)
	}
}

func TestOutOfOrderAndForeignChangeNothing(t *testing.T) {
	village := automerge.New()
	history(t, village, 0, 3)
	mark := village.Heads()
	history(t, village, 3, 2)
	later := read(t, export(t, village, mark))

	district := automerge.New()
	if _, err := later.Apply(district); !errors.Is(err, bundle.ErrOutOfOrder) {
		t.Fatalf("out of order into an empty document: %v", err)
	}
	if len(district.Heads()) != 0 {
		t.Fatal("an out-of-order bundle changed the document")
	}

	other := automerge.New()
	history(t, other, 0, 2)
	before := other.Heads()
	whole := read(t, export(t, village, nil))
	if _, err := whole.Apply(other); !errors.Is(err, bundle.ErrForeign) {
		t.Fatalf("another document's history: %v", err)
	}
	if !sameHeads(other.Heads(), before) {
		t.Fatal("a foreign bundle changed the document")
	}
}

func TestDamagedBundlesAreRefused(t *testing.T) {
	doc := automerge.New()
	history(t, doc, 0, 4)
	good := export(t, doc, nil)
	nl := bytes.IndexByte(good, '\n')
	var h bundle.Header
	if err := json.Unmarshal(good[:nl], &h); err != nil {
		t.Fatal(err)
	}
	payload := good[nl+1:]
	reheader := func(h bundle.Header, payload []byte) []byte {
		b, _ := json.Marshal(h)
		return append(append(b, '\n'), payload...)
	}
	flipped := bytes.Clone(payload)
	flipped[len(flipped)/2] ^= 0x40
	resummed := h
	sum := sha256.Sum256(flipped)
	resummed.SHA256 = hex.EncodeToString(sum[:])
	wrongCount := h
	wrongCount.Count = 3

	for name, c := range map[string]struct {
		raw  []byte
		want error
	}{
		"empty":                         {nil, bundle.ErrMalformed},
		"not a bundle":                  {[]byte("hello\nworld"), bundle.ErrMalformed},
		"cut in the header":             {good[:nl/2], bundle.ErrTruncated},
		"cut in the changes":            {good[:len(good)-10], bundle.ErrTruncated},
		"a flipped bit":                 {append(good[:nl+1:nl+1], flipped...), bundle.ErrDamaged},
		"a flipped bit, checksum fixed": {reheader(resummed, flipped), bundle.ErrDamaged},
		"wrong count":                   {reheader(wrongCount, payload), bundle.ErrDamaged},
		"trailing data":                 {append(bytes.Clone(good), 'x'), bundle.ErrDamaged},
		"another format":                {bytes.Replace(good, []byte("veche-bundle/1"), []byte("veche-bundle/9"), 1), bundle.ErrMalformed},
	} {
		b, err := bundle.Read(bytes.NewReader(c.raw), 0)
		if err == nil {
			// Framing and checksum hold: the core must refuse it, and
			// change nothing.
			doc := automerge.New()
			_, err = b.Apply(doc)
			if len(doc.Heads()) != 0 {
				t.Errorf("%s: applied", name)
			}
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := bundle.Read(bytes.NewReader(good), 10); !errors.Is(err, bundle.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	// An altered "after" names a change nobody has.
	altered := h
	altered.After = []string{hex.EncodeToString(make([]byte, 32))}
	b := read(t, reheader(altered, payload))
	if _, err := b.Apply(automerge.New()); !errors.Is(err, bundle.ErrDamaged) {
		t.Errorf("altered after: %v", err)
	}
}

// compress turns the last change chunk of a bundle into a compressed
// chunk, as JS Automerge stores large changes: same checksum, type 2,
// the contents deflated.
func compress(t *testing.T, raw []byte) []byte {
	t.Helper()
	nl := bytes.IndexByte(raw, '\n')
	var h bundle.Header
	if err := json.Unmarshal(raw[:nl], &h); err != nil {
		t.Fatal(err)
	}
	payload := raw[nl+1:]
	at := bytes.LastIndex(payload, []byte{0x85, 0x6f, 0x4a, 0x83})
	chunk := payload[at:]
	size, used := binary.Uvarint(chunk[9:])
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(chunk[9+used : 9+used+int(size)])
	w.Close()
	packed := append(append(bytes.Clone(chunk[:8]), 2), binary.AppendUvarint(nil, uint64(z.Len()))...)
	packed = append(packed, z.Bytes()...)
	payload = append(bytes.Clone(payload[:at]), packed...)
	sum := sha256.Sum256(payload)
	h.Size, h.SHA256 = int64(len(payload)), hex.EncodeToString(sum[:])
	head, _ := json.Marshal(h)
	return append(append(head, '\n'), payload...)
}

func TestCompressedChanges(t *testing.T) {
	doc := automerge.New()
	history(t, doc, 0, 2)
	if err := doc.RootMap().Set("big", strings.Repeat("seed potatoes, ", 2000)); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("big"); err != nil {
		t.Fatal(err)
	}
	plain := export(t, doc, nil)
	packed := compress(t, plain)
	if len(packed) > len(plain)/4 {
		t.Fatalf("compressed bundle is %d bytes of %d", len(packed), len(plain))
	}
	into := automerge.New()
	if n, err := read(t, packed).Apply(into); err != nil || n != 3 || !sameHeads(into.Heads(), doc.Heads()) {
		t.Fatalf("compressed bundle: %d, %v", n, err)
	}
}
