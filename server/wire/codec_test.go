package wire_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/veche-sync/veche/server/wire"
)

// Raw CBOR items for hand-built frames.
var (
	cborUndefined = cbor.RawMessage{0xf7}
	cborNull      = cbor.RawMessage{0xf6}
)

// mapFrame builds a CBOR map from alternating keys and values, in order and
// allowing duplicates, with the map-16 header cbor-x always writes.
func mapFrame(t testing.TB, kv ...any) []byte {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatal("mapFrame: odd number of arguments")
	}
	n := len(kv) / 2
	out := []byte{0xb9, byte(n >> 8), byte(n)}
	for _, x := range kv {
		b, err := cbor.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// testID is a real document id made by automerge-repo.
const testID wire.DocumentID = "4KiMYeCRzQoq3QknKaKoAj4btvqR"

// fullMessages has one message of every type with every field its type uses.
var fullMessages = []wire.Message{
	{Type: wire.TypeJoin, SenderID: "alice", PeerMetadata: &wire.PeerMetadata{StorageID: "be54fc56-bd75-4579-8589-b5c4199a478e"}, SupportedProtocolVersions: []string{"1"}},
	{Type: wire.TypePeer, SenderID: "relay", TargetID: "alice", PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}, SelectedProtocolVersion: "1"},
	{Type: wire.TypeError, SenderID: "relay", TargetID: "alice", ErrorMessage: "unsupported protocol version"},
	{Type: wire.TypeRequest, SenderID: "bob", TargetID: "relay", DocumentID: testID, Data: []byte{0x42, 0, 1}},
	{Type: wire.TypeSync, SenderID: "relay", TargetID: "bob", DocumentID: testID, Data: []byte{0x42, 1, 2, 3}},
	{Type: wire.TypeDocUnavailable, SenderID: "relay", TargetID: "bob", DocumentID: testID},
	{Type: wire.TypeEphemeral, SenderID: "alice", TargetID: "bob", DocumentID: testID, Data: []byte{0xa0}, SessionID: "ap2q3fq59d5", Count: 1 << 40},
	{Type: wire.TypeLeave, SenderID: "alice"},
	{Type: wire.TypeRemoteSubscriptionChange, SenderID: "bob", TargetID: "relay", Add: []string{"a", "b"}, Remove: []string{"c"}},
	{Type: wire.TypeRemoteHeadsChanged, SenderID: "relay", TargetID: "bob", DocumentID: testID, NewHeads: map[string]wire.HeadsAtTime{
		"a": {Heads: []string{"2hW3HS3X1683QczFUm1FmhGhHYvbbQTA8WXe834HaMprfviraG"}, Timestamp: 1795606359988},
		"b": {Heads: []string{}, Timestamp: 0.5},
	}},
	{Type: "future-type", SenderID: "x", TargetID: "y", DocumentID: "not checked", Data: []byte{}, Add: []string{}, NewHeads: map[string]wire.HeadsAtTime{}},
}

func TestRoundTrip(t *testing.T) {
	for _, m := range fullMessages {
		t.Run(string(m.Type), func(t *testing.T) {
			b, err := wire.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.Decode(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("got  %+v\nwant %+v", got, m)
			}
			again, err := wire.Encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("encoding is not deterministic:\n%x\n%x", b, again)
			}
		})
	}
}

// keysOf decodes a frame generically and returns its sorted keys.
func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestEncodeFieldNames(t *testing.T) {
	tests := []struct {
		m    wire.Message
		keys string
	}{
		{fullMessages[0], "peerMetadata senderId supportedProtocolVersions type"},
		{fullMessages[1], "peerMetadata selectedProtocolVersion senderId targetId type"},
		{fullMessages[2], "message senderId targetId type"},
		{fullMessages[3], "data documentId senderId targetId type"},
		{fullMessages[5], "documentId senderId targetId type"},
		{fullMessages[6], "count data documentId senderId sessionId targetId type"},
		{fullMessages[8], "add remove senderId targetId type"},
		{fullMessages[9], "documentId newHeads senderId targetId type"},
		// Zero values are left out entirely.
		{wire.Message{Type: wire.TypeSync}, "type"},
	}
	for _, tt := range tests {
		if got := strings.Join(keysOf(t, mustEncode(t, tt.m)), " "); got != tt.keys {
			t.Errorf("%s: keys %q, want %q", tt.m.Type, got, tt.keys)
		}
	}
}

func mustEncode(t *testing.T, m wire.Message) []byte {
	t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeNestedFieldNames(t *testing.T) {
	b := mustEncode(t, wire.Message{
		Type:         wire.TypeJoin,
		PeerMetadata: &wire.PeerMetadata{StorageID: "s"},
		NewHeads:     map[string]wire.HeadsAtTime{"s": {}},
	})
	var m struct {
		PeerMetadata map[string]any `cbor:"peerMetadata"`
		NewHeads     map[string]map[string]any
	}
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// isEphemeral is always written, as upstream always sends it.
	if want := map[string]any{"storageId": "s", "isEphemeral": false}; !reflect.DeepEqual(m.PeerMetadata, want) {
		t.Errorf("peerMetadata %v, want %v", m.PeerMetadata, want)
	}
	// Heads are an array even when nil: upstream maps over them.
	if want := map[string]any{"heads": []any{}, "timestamp": 0.0}; !reflect.DeepEqual(m.NewHeads["s"], want) {
		t.Errorf("newHeads entry %v, want %v", m.NewHeads["s"], want)
	}
}

func TestEncodeDataIsByteString(t *testing.T) {
	b := mustEncode(t, wire.Message{Type: wire.TypeSync, Data: []byte{1, 2, 3}})
	if !bytes.Contains(b, []byte("ddata\x43\x01\x02\x03")) {
		t.Errorf("data is not a plain byte string: %x", b)
	}
}

// cbor-x reads an 8-byte CBOR integer as a BigInt, so counts above 2^32-1
// go out as float64, as cbor-x itself writes them.
func TestEncodeCountLikeCborX(t *testing.T) {
	tests := []struct {
		count uint64
		want  []byte
	}{
		{1, []byte("ecount\x01")},
		{math.MaxUint32, []byte("ecount\x1a\xff\xff\xff\xff")},
		{1 << 32, []byte("ecount\xfb\x41\xf0\x00\x00\x00\x00\x00\x00")},
		{1<<53 - 1, []byte("ecount\xfb\x43\x3f\xff\xff\xff\xff\xff\xff")},
	}
	for _, tt := range tests {
		b := mustEncode(t, wire.Message{Type: wire.TypeEphemeral, Count: tt.count})
		if !bytes.Contains(b, tt.want) {
			t.Errorf("count %d encoded as %x, want %x inside", tt.count, b, tt.want)
		}
		m, err := wire.Decode(b, 0)
		if err != nil || m.Count != tt.count {
			t.Errorf("count %d decoded as %d, %v", tt.count, m.Count, err)
		}
	}
	if _, err := wire.Encode(wire.Message{Type: wire.TypeEphemeral, Count: 1 << 53}); !errors.Is(err, wire.ErrBadField) {
		t.Errorf("count 2^53: err = %v, want ErrBadField", err)
	}
}

func TestEncodeWithoutType(t *testing.T) {
	if _, err := wire.Encode(wire.Message{SenderID: "a"}); !errors.Is(err, wire.ErrMissingType) {
		t.Errorf("err = %v, want ErrMissingType", err)
	}
}

func TestDecodeMetadataAlias(t *testing.T) {
	meta := map[string]any{"storageId": "s1", "isEphemeral": false}
	other := map[string]any{"storageId": "s2", "isEphemeral": true}

	m, err := wire.Decode(mapFrame(t, "type", "join", "senderId", "a", "metadata", meta), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&wire.PeerMetadata{StorageID: "s1"}); !reflect.DeepEqual(m.PeerMetadata, want) {
		t.Errorf("alias: peerMetadata %+v, want %+v", m.PeerMetadata, want)
	}
	if keys := keysOf(t, mustEncode(t, m)); slices.Contains(keys, "metadata") || !slices.Contains(keys, "peerMetadata") {
		t.Errorf("re-encoded keys %q", keys)
	}

	m, err = wire.Decode(mapFrame(t, "type", "join", "metadata", other, "peerMetadata", meta), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.PeerMetadata.StorageID != "s1" {
		t.Errorf("peerMetadata must win over metadata, got %+v", m.PeerMetadata)
	}

	m, err = wire.Decode(mapFrame(t, "type", "join", "peerMetadata", cborUndefined, "metadata", other), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.PeerMetadata == nil || m.PeerMetadata.StorageID != "s2" {
		t.Errorf("undefined peerMetadata must fall back to metadata, got %+v", m.PeerMetadata)
	}
}

// cbor-x writes undefined for absent optional properties; both undefined and
// null read as absent.
func TestDecodeUndefinedAndNull(t *testing.T) {
	for _, nothing := range []cbor.RawMessage{cborUndefined, cborNull} {
		b := mapFrame(t,
			"type", "join", "senderId", "bob",
			"peerMetadata", map[string]any{"storageId": nothing, "isEphemeral": true},
			"targetId", nothing, "supportedProtocolVersions", nothing, "data", nothing,
			"count", nothing, "add", nothing, "remove", nothing, "newHeads", nothing,
			"documentId", nothing, "metadata", nothing)
		m, err := wire.Decode(b, 0)
		if err != nil {
			t.Fatalf("%x: %v", nothing, err)
		}
		want := wire.Message{Type: wire.TypeJoin, SenderID: "bob", PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%x: got %+v, want %+v", nothing, m, want)
		}
	}
}

func TestDecodeUnknownTypeAndKeys(t *testing.T) {
	b := mapFrame(t, "type", "presence", "senderId", "a", "future", []any{1, "x", map[string]any{"y": true}}, 7, "int key")
	m, err := wire.Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.Message{Type: "presence", SenderID: "a"}); !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("unknown type must be valid, got %v", err)
	}
}

func TestDecodeNumbers(t *testing.T) {
	tests := []struct {
		name  string
		count any
		want  uint64
		err   error
	}{
		{"uint", uint64(7), 7, nil},
		{"cbor-x float64 above 2^32", float64(1 << 40), 1 << 40, nil},
		{"float16", cbor.RawMessage{0xf9, 0x3c, 0x00}, 1, nil},
		{"max safe integer", float64(1<<53 - 1), 1<<53 - 1, nil},
		{"fraction", 1.5, 0, wire.ErrBadField},
		{"negative", -1, 0, wire.ErrBadField},
		{"negative float", -1.0, 0, wire.ErrBadField},
		{"beyond 2^53", float64(1 << 60), 0, wire.ErrBadField},
		{"uint beyond 2^53", uint64(1 << 53), 0, wire.ErrBadField},
		{"max uint64", uint64(math.MaxUint64), 0, wire.ErrBadField},
		{"NaN", math.NaN(), 0, wire.ErrBadField},
		{"infinity", math.Inf(1), 0, wire.ErrBadField},
		{"text", "1", 0, wire.ErrBadField},
		{"tagged", cbor.RawMessage{0xc1, 0x01}, 0, wire.ErrBadField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wire.Decode(mapFrame(t, "type", "ephemeral", "count", tt.count), 0)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if m.Count != tt.want {
				t.Errorf("count = %d, want %d", m.Count, tt.want)
			}
		})
	}

	// Timestamps may arrive as integers or any float width.
	for _, ts := range []any{uint64(1795606359988), 1795606359988.0, float32(2.5)} {
		heads := map[string]any{"s": map[string]any{"heads": []string{"h"}, "timestamp": ts}}
		m, err := wire.Decode(mapFrame(t, "type", "remote-heads-changed", "newHeads", heads), 0)
		if err != nil {
			t.Fatalf("timestamp %v: %v", ts, err)
		}
		if got := m.NewHeads["s"].Timestamp; got != reflect.ValueOf(ts).Convert(reflect.TypeFor[float64]()).Float() {
			t.Errorf("timestamp %v decoded as %v", ts, got)
		}
	}
}

func TestDecodeAcceptsAnyValidEncoding(t *testing.T) {
	want := wire.Message{Type: wire.TypeSync, SenderID: "a", Data: []byte{1, 2}}
	frames := map[string][]byte{
		// Shortest form, as Go writes.
		"shortest": mustEncode(t, want),
		// Indefinite-length map, text and byte strings.
		"indefinite": {0xbf,
			0x64, 't', 'y', 'p', 'e', 0x7f, 0x62, 's', 'y', 0x62, 'n', 'c', 0xff,
			0x68, 's', 'e', 'n', 'd', 'e', 'r', 'I', 'd', 0x61, 'a',
			0x64, 'd', 'a', 't', 'a', 0x5f, 0x41, 1, 0x41, 2, 0xff,
			0xff},
		// Over-long heads, as cbor-x writes map lengths.
		"long heads": {0xba, 0, 0, 0, 3,
			0x78, 4, 't', 'y', 'p', 'e', 0x79, 0, 4, 's', 'y', 'n', 'c',
			0x68, 's', 'e', 'n', 'd', 'e', 'r', 'I', 'd', 0x61, 'a',
			0x64, 'd', 'a', 't', 'a', 0x58, 2, 1, 2},
	}
	for name, b := range frames {
		m, err := wire.Decode(b, 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: got %+v, want %+v", name, m, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := cbor.RawMessage(bytes.Repeat([]byte{0x81}, 20))
	deep = append(deep, 0x00)
	tests := []struct {
		name  string
		frame []byte
		err   error
	}{
		{"nil", nil, wire.ErrNotCBOR},
		{"empty", []byte{}, wire.ErrNotCBOR},
		{"array", []byte{0x81, 0x01}, wire.ErrNotCBOR},
		{"text", []byte{0x61, 'a'}, wire.ErrNotCBOR},
		{"tagged map", []byte{0xd9, 0xd9, 0xf7, 0xa0}, wire.ErrNotCBOR},
		{"not CBOR", []byte("{\"type\":\"join\"}"), wire.ErrNotCBOR},
		{"truncated", mapFrame(t, "type", "sync")[:6], wire.ErrNotCBOR},
		{"trailing bytes", append(mapFrame(t, "type", "sync"), 0x00), wire.ErrNotCBOR},
		{"two maps", append(mapFrame(t, "type", "sync"), mapFrame(t, "type", "sync")...), wire.ErrNotCBOR},
		{"unterminated indefinite map", []byte{0xbf, 0x64, 't', 'y', 'p', 'e', 0x61, 'x'}, wire.ErrNotCBOR},
		{"invalid UTF-8", mapFrame(t, "type", "sync", "senderId", cbor.RawMessage{0x62, 0xff, 0xfe}), wire.ErrNotCBOR},
		{"break outside indefinite", []byte{0xa1, 0xff, 0x00}, wire.ErrNotCBOR},
		{"reserved additional info", []byte{0xa1, 0x1c, 0x00}, wire.ErrNotCBOR},
		{"huge length", []byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wire.ErrNotCBOR},
		{"too deep", mapFrame(t, "type", "sync", "x", deep), wire.ErrTooComplex},
		{"long array", mapFrame(t, "type", "sync", "add", make([]string, 1025)), wire.ErrTooComplex},
		{"long array in unknown key", mapFrame(t, "type", "sync", "x", make([]int, 1025)), wire.ErrTooComplex},
		{"big map", mapFrame(t, "type", "sync", "newHeads", bigHeads(1025)), wire.ErrTooComplex},
		{"duplicate key", mapFrame(t, "type", "sync", "type", "request"), wire.ErrDuplicateKey},
		{"duplicate unknown key", mapFrame(t, "type", "sync", "x", 1, "x", 2), wire.ErrDuplicateKey},
		{"duplicate nested key", mapFrame(t, "type", "join", "peerMetadata", cbor.RawMessage(append([]byte{0xa2}, append(mustMarshal(t, "isEphemeral"), 0xf5, 0x6b, 'i', 's', 'E', 'p', 'h', 'e', 'm', 'e', 'r', 'a', 'l', 0xf4)...))), wire.ErrDuplicateKey},
		{"no type", mapFrame(t, "senderId", "a"), wire.ErrMissingType},
		{"empty type", mapFrame(t, "type", ""), wire.ErrMissingType},
		{"null type", mapFrame(t, "type", cborNull), wire.ErrMissingType},
		{"type is a number", mapFrame(t, "type", 1), wire.ErrBadField},
		{"data is text", mapFrame(t, "type", "sync", "data", "abc"), wire.ErrBadField},
		{"documentId is bytes", mapFrame(t, "type", "sync", "documentId", []byte("abc")), wire.ErrBadField},
		{"peerMetadata is a string", mapFrame(t, "type", "join", "peerMetadata", "x"), wire.ErrBadField},
		{"isEphemeral is a string", mapFrame(t, "type", "join", "peerMetadata", map[string]any{"isEphemeral": "yes"}), wire.ErrBadField},
		{"add holds numbers", mapFrame(t, "type", "remote-subscription-change", "add", []int{1}), wire.ErrBadField},
		{"newHeads key is a number", mapFrame(t, "type", "remote-heads-changed", "newHeads", map[int]any{1: map[string]any{}}), wire.ErrBadField},
		{"NaN timestamp", mapFrame(t, "type", "remote-heads-changed", "newHeads", map[string]any{"s": map[string]any{"timestamp": math.NaN()}}), wire.ErrBadField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wire.Decode(tt.frame, 0)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(m, wire.Message{}) {
				t.Errorf("failed Decode returned %+v", m)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bigHeads(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune(i))] = nil
	}
	return m
}

func TestDecodeFrameSizeLimit(t *testing.T) {
	b := mustEncode(t, wire.Message{Type: wire.TypeSync, Data: make([]byte, 100)})
	if _, err := wire.Decode(b, len(b)); err != nil {
		t.Errorf("frame at the limit: %v", err)
	}
	if _, err := wire.Decode(b, len(b)-1); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("frame over the limit: err = %v", err)
	}
	// The limit is checked before anything else: even garbage gets
	// ErrFrameTooLarge.
	if _, err := wire.Decode(make([]byte, wire.DefaultMaxFrameSize+1), 0); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("default limit: err = %v", err)
	}
	if _, err := wire.Decode(make([]byte, 11), -1); errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("negative limit must mean the default: err = %v", err)
	}
}

func TestDecodeDoesNotRetainFrame(t *testing.T) {
	b := mustEncode(t, wire.Message{Type: wire.TypeSync, Data: []byte{1, 2, 3}})
	m, err := wire.Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if !bytes.Equal(m.Data, []byte{1, 2, 3}) {
		t.Errorf("Data aliases the frame: %x", m.Data)
	}
}
