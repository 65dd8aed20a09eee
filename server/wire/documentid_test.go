package wire_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/veche-sync/veche/server/wire"
)

// vectors are document ids and URLs judged by the real automerge-repo
// 2.5.6; see testdata/capture/vectors.mjs.
type vectors struct {
	IDs []struct {
		ID            string `json:"id"`
		UpstreamValid bool   `json:"upstreamValid"`
		Bytes         string `json:"bytes"`
		Valid         bool   `json:"valid"`
		Note          string `json:"note"`
	} `json:"ids"`
	URLs []struct {
		URL           string   `json:"url"`
		UpstreamValid bool     `json:"upstreamValid"`
		DocumentID    string   `json:"documentId"`
		Heads         []string `json:"heads"`
		Note          string   `json:"note"`
	} `json:"urls"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/documentid_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.IDs) == 0 || len(v.URLs) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

func TestParseDocumentIDVectors(t *testing.T) {
	for _, v := range loadVectors(t).IDs {
		t.Run(v.Note, func(t *testing.T) {
			id, err := wire.ParseDocumentID(v.ID)
			if !v.Valid {
				if !errors.Is(err, wire.ErrBadDocumentID) {
					t.Fatalf("ParseDocumentID(%q) = %q, %v; want ErrBadDocumentID", v.ID, id, err)
				}
				if wire.DocumentID(v.ID).Bytes() != nil || wire.DocumentID(v.ID).Valid() {
					t.Errorf("invalid id %q has bytes or is Valid", v.ID)
				}
				return
			}
			if err != nil || string(id) != v.ID {
				t.Fatalf("ParseDocumentID(%q) = %q, %v", v.ID, id, err)
			}
			if got := hex.EncodeToString(id.Bytes()); got != v.Bytes {
				t.Errorf("Bytes() = %s, upstream %s", got, v.Bytes)
			}
			raw, _ := hex.DecodeString(v.Bytes)
			if back, err := wire.DocumentIDFromBytes(raw); err != nil || back != id {
				t.Errorf("DocumentIDFromBytes(%s) = %q, %v; want %q", v.Bytes, back, err, id)
			}
			if id.URL() != "automerge:"+v.ID {
				t.Errorf("URL() = %q", id.URL())
			}
		})
	}
}

func TestParseURLVectors(t *testing.T) {
	for _, v := range loadVectors(t).URLs {
		t.Run(v.Note, func(t *testing.T) {
			id, err := wire.ParseURL(v.URL)
			if !v.UpstreamValid {
				if !errors.Is(err, wire.ErrBadURL) {
					t.Fatalf("ParseURL(%q) = %q, %v; want ErrBadURL", v.URL, id, err)
				}
				return
			}
			if err != nil || string(id) != v.DocumentID {
				t.Fatalf("ParseURL(%q) = %q, %v; want %q", v.URL, id, err, v.DocumentID)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url string
		err error
	}{
		{"automerge:" + string(testID) + "x", wire.ErrBadDocumentID},
		{"automerge:26ysEDTvDr2tK2RZ", wire.ErrBadDocumentID}, // 8-byte payload
		{"automerge:" + string(testID) + "#" + strings.Repeat("2", 200), wire.ErrBadURL},
		{"automerge:" + string(testID) + "#||", wire.ErrBadURL},
		{"automerge:" + string(testID) + "?x=1", wire.ErrBadURL},
	}
	for _, tt := range tests {
		if _, err := wire.ParseURL(tt.url); !errors.Is(err, tt.err) || !errors.Is(err, wire.ErrBadURL) {
			t.Errorf("ParseURL(%q): err = %v, want %v", tt.url, err, tt.err)
		}
	}
}

func TestParseDocumentIDErrorsSayWhy(t *testing.T) {
	tests := map[string]string{
		"":                                      "empty",
		strings.Repeat("2", 29):                 "characters",
		"4KiMYeCRzQoq3QknKaKoAj4btv0R":          "invalid base58 character '0' at offset 26",
		"4KiMYeCRzQoq3QknKaKoAj4btvqS":          "bad checksum",
		"2":                                     "too short",
		"BvBvr7YTXa1RBuGUpwZ6eAcaAF":            "15-byte payload",
		"7w64XWPcFkpFQs7akBNeegUEodWXehJEgQb8a": "characters",
	}
	for s, want := range tests {
		_, err := wire.ParseDocumentID(s)
		if !errors.Is(err, wire.ErrBadDocumentID) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDocumentID(%q): err = %v, want it to mention %q", s, err, want)
		}
	}
}

func TestNewDocumentID(t *testing.T) {
	seen := map[wire.DocumentID]bool{}
	for range 1000 {
		id := wire.NewDocumentID()
		b := id.Bytes()
		if len(b) != wire.DocumentIDSize {
			t.Fatalf("NewDocumentID() = %q, not valid", id)
		}
		// A version 4, RFC 4122 variant UUID, as upstream's uuid.v4.
		if b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Fatalf("NewDocumentID() = %q: bytes %x are not a v4 UUID", id, b)
		}
		if seen[id] {
			t.Fatalf("NewDocumentID() repeated %q", id)
		}
		seen[id] = true
		if parsed, err := wire.ParseURL(id.URL()); err != nil || parsed != id {
			t.Fatalf("ParseURL(%q) = %q, %v", id.URL(), parsed, err)
		}
	}
}

// Upstream's generated ids are v4 UUIDs too.
func TestUpstreamIDsAreUUIDv4(t *testing.T) {
	for _, v := range loadVectors(t).IDs {
		if !strings.HasPrefix(v.Note, "generateAutomergeUrl") {
			continue
		}
		b, _ := hex.DecodeString(v.Bytes)
		if len(b) != 16 || b[6]>>4 != 4 || b[8]>>6 != 2 {
			t.Errorf("upstream id %q: %x is not a v4 UUID", v.ID, b)
		}
	}
}

func TestDocumentIDFromBytesLength(t *testing.T) {
	for _, n := range []int{0, 15, 17, 32} {
		if _, err := wire.DocumentIDFromBytes(make([]byte, n)); !errors.Is(err, wire.ErrBadDocumentID) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
	id, err := wire.DocumentIDFromBytes(make([]byte, 16))
	if err != nil || id != "11111111111111114Ki9Gx" {
		t.Errorf("16 zero bytes: %q, %v", id, err)
	}
	if !slices.Equal(id.Bytes(), make([]byte, 16)) {
		t.Errorf("Bytes() = %x", id.Bytes())
	}
}
