package wire_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/veche-sync/veche/server/wire"
)

// FuzzDecode feeds Decode arbitrary frames, seeded with every frame captured
// from real automerge-repo peers and some garbage. Decode must not panic;
// whatever it accepts must survive Encode and Decode unchanged, and Validate
// must not panic on it either.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=60s ./server/wire/
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/frames/*.cbor")
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no captured frames")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, m := range fullMessages {
		b, err := wire.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, garbage := range [][]byte{
		nil,
		{0x00},
		{0xa0},
		{0xbf, 0xff},
		{0xb9, 0xff, 0xff},
		{0xbf, 0x64, 't', 'y', 'p', 'e', 0x7f, 0x61, 'x', 0xff, 0xff},
		{0xa1, 0x64, 't', 'y', 'p', 'e', 0xf7},
		{0xa2, 0x64, 't', 'y', 'p', 'e', 0x61, 'x', 0x65, 'c', 'o', 'u', 'n', 't', 0xfb, 0x43, 0x40, 0, 0, 0, 0, 0, 0},
		{0xa2, 0x64, 't', 'y', 'p', 'e', 0x61, 'x', 0x68, 'n', 'e', 'w', 'H', 'e', 'a', 'd', 's', 0xa1, 0x60, 0xf6},
		bytes.Repeat([]byte{0x81}, 100),
		bytes.Repeat([]byte{0xbf}, 100),
		[]byte("{\"type\":\"sync\"}"),
	} {
		f.Add(garbage)
	}

	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := wire.Decode(frame, 1<<16)
		if err != nil {
			if !reflect.DeepEqual(m, wire.Message{}) {
				t.Fatalf("failed Decode returned %+v", m)
			}
			for _, sentinel := range []error{
				wire.ErrFrameTooLarge, wire.ErrNotCBOR, wire.ErrTooComplex,
				wire.ErrDuplicateKey, wire.ErrBadField, wire.ErrMissingType,
			} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		_ = m.Validate()
		enc, err := wire.Encode(m)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", m, err)
		}
		again, err := wire.Decode(enc, 0)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)) = %v\nframe %x\nre-encoded %x", m, err, frame, enc)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the message:\n got %+v\nwant %+v\nframe %x", again, m, frame)
		}
		enc2, err := wire.Encode(again)
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("Encode is not deterministic: %x then %x (%v)", enc, enc2, err)
		}
	})
}

// FuzzParseDocumentID checks that ParseDocumentID and ParseURL never panic,
// that whatever id they accept is canonical (re-encodes to itself) and
// 16 bytes, and that they agree with each other.
func FuzzParseDocumentID(f *testing.F) {
	f.Add("4KiMYeCRzQoq3QknKaKoAj4btvqR")
	f.Add("11111111111111114Ki9Gx")
	f.Add("4ZrjxJnU1LA5xSyrWMNuXTozYEvA")
	f.Add("4KiMYeCRzQoq3QknKaKoAj4btvqS")
	f.Add("automerge:4KiMYeCRzQoq3QknKaKoAj4btvqR#2hW3HS3X1683QczFUm1FmhGhHYvbbQTA8WXe834HaMprfviraG")
	f.Add("0OIl")
	f.Add("")
	f.Add("1111111111111111111111111111")
	f.Add("zzzzzzzzzzzzzzzzzzzzzzzzzzzz")

	f.Fuzz(func(t *testing.T, s string) {
		id, err := wire.ParseDocumentID(s)
		if err != nil {
			if !errors.Is(err, wire.ErrBadDocumentID) {
				t.Fatalf("ParseDocumentID(%q): error wraps no sentinel: %v", s, err)
			}
		} else {
			b := id.Bytes()
			if string(id) != s || len(b) != wire.DocumentIDSize {
				t.Fatalf("ParseDocumentID(%q) = %q with %d bytes", s, id, len(b))
			}
			if back, err := wire.DocumentIDFromBytes(b); err != nil || back != id {
				t.Fatalf("%q is not canonical: its bytes encode as %q (%v)", s, back, err)
			}
			if u, err := wire.ParseURL(id.URL()); err != nil || u != id {
				t.Fatalf("ParseURL(%q) = %q, %v", id.URL(), u, err)
			}
		}
		if u, err := wire.ParseURL(s); err != nil {
			if !errors.Is(err, wire.ErrBadURL) {
				t.Fatalf("ParseURL(%q): error wraps no sentinel: %v", s, err)
			}
		} else if !u.Valid() {
			t.Fatalf("ParseURL(%q) = invalid %q", s, u)
		}
	})
}
