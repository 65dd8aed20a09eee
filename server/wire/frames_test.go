package wire_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/veche-sync/veche/server/wire"
)

// reencodeDir, when set, receives Encode(Decode(frame)) for every captured
// frame under its original name, for testdata/capture/crosscheck.mjs to
// compare with cbor-x.
var reencodeDir = flag.String("reencode", "", "write re-encoded captured frames to this directory")

// capturedFrame is one frame recorded by testdata/capture/capture.mjs.
type capturedFrame struct {
	File      string `json:"file"`
	Direction string `json:"direction"` // "c2s" or "s2c"
	Conn      string `json:"conn"`      // peer id that joined on the socket
	Type      string `json:"type"`

	raw []byte
	msg wire.Message
}

// loadFrames reads and decodes every captured frame, in order.
func loadFrames(t *testing.T) []capturedFrame {
	t.Helper()
	index, err := os.ReadFile("testdata/frames/index.json")
	if err != nil {
		t.Fatal(err)
	}
	var frames []capturedFrame
	if err := json.Unmarshal(index, &frames); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/frames/*.cbor")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(frames) || len(frames) == 0 {
		t.Fatalf("%d frame files, %d in index.json", len(files), len(frames))
	}
	for i := range frames {
		f := &frames[i]
		f.raw, err = os.ReadFile(filepath.Join("testdata/frames", f.File))
		if err != nil {
			t.Fatal(err)
		}
		f.msg, err = wire.Decode(f.raw, 0)
		if err != nil {
			t.Fatalf("%s: %v", f.File, err)
		}
	}
	return frames
}

func TestCapturedFramesRoundTrip(t *testing.T) {
	if *reencodeDir != "" {
		if err := os.MkdirAll(*reencodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range loadFrames(t) {
		t.Run(f.File, func(t *testing.T) {
			if string(f.msg.Type) != f.Type {
				t.Errorf("type %q, index says %q", f.msg.Type, f.Type)
			}
			if err := f.msg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			enc, err := wire.Encode(f.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again, err := wire.Decode(enc, 0)
			if err != nil {
				t.Fatalf("Decode(Encode): %v", err)
			}
			if !reflect.DeepEqual(again, f.msg) {
				t.Errorf("round trip changed the message:\n got %+v\nwant %+v", again, f.msg)
			}
			if *reencodeDir != "" {
				if err := os.WriteFile(filepath.Join(*reencodeDir, f.File), enc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestCapturedFramesCoverProtocol(t *testing.T) {
	seen := map[wire.Type]bool{}
	for _, f := range loadFrames(t) {
		seen[f.msg.Type] = true
	}
	for _, typ := range []wire.Type{
		wire.TypeJoin, wire.TypePeer, wire.TypeError, wire.TypeRequest, wire.TypeSync,
		wire.TypeDocUnavailable, wire.TypeEphemeral, wire.TypeRemoteSubscriptionChange,
		wire.TypeRemoteHeadsChanged,
	} {
		if !seen[typ] {
			t.Errorf("no captured %s frame", typ)
		}
	}
}

// TestCapturedFramesContent checks what upstream actually sends, as the
// package documentation describes it.
func TestCapturedFramesContent(t *testing.T) {
	frames := loadFrames(t)
	storageIDs := map[string]string{} // peer id → storage id
	var relayID string
	for _, f := range frames {
		m := f.msg
		switch m.Type {
		case wire.TypeJoin:
			if m.SenderID != f.Conn {
				t.Errorf("%s: join senderId %q on %s's socket", f.File, m.SenderID, f.Conn)
			}
			if m.PeerMetadata == nil {
				t.Fatalf("%s: join without peerMetadata", f.File)
			}
			storageIDs[m.SenderID] = m.PeerMetadata.StorageID
			if f.Conn == "mallory" {
				if _, ok := wire.SelectProtocolVersion(m.SupportedProtocolVersions); ok {
					t.Errorf("%s: version %q selectable", f.File, m.SupportedProtocolVersions)
				}
				continue
			}
			if !slices.Equal(m.SupportedProtocolVersions, []string{wire.ProtocolVersion}) {
				t.Errorf("%s: supportedProtocolVersions %q", f.File, m.SupportedProtocolVersions)
			}
		case wire.TypePeer:
			relayID = m.SenderID
			if m.SelectedProtocolVersion != wire.ProtocolVersion || m.PeerMetadata == nil ||
				m.PeerMetadata.StorageID == "" || m.PeerMetadata.IsEphemeral {
				t.Errorf("%s: peer message %+v, metadata %+v", f.File, m, m.PeerMetadata)
			}
		case wire.TypeError:
			if m.ErrorMessage != "unsupported protocol version" || m.TargetID != "mallory" {
				t.Errorf("%s: error message %+v", f.File, m)
			}
		case wire.TypeRemoteSubscriptionChange:
			// cbor-x wrote remove: undefined.
			if !slices.Equal(m.Add, []string{storageIDs["alice"]}) || m.Remove != nil {
				t.Errorf("%s: add %q remove %q", f.File, m.Add, m.Remove)
			}
		case wire.TypeRemoteHeadsChanged:
			h, ok := m.NewHeads[storageIDs["alice"]]
			if len(m.NewHeads) != 1 || !ok || len(h.Heads) != 1 || h.Timestamp < 1.6e12 {
				t.Errorf("%s: newHeads %+v", f.File, m.NewHeads)
			}
		case wire.TypeEphemeral:
			if m.Count != 1 || m.SessionID == "" {
				t.Errorf("%s: ephemeral %+v", f.File, m)
			}
		}
		// Every message but join names its target; the server always
		// targets the socket's peer.
		if m.Type != wire.TypeJoin && m.TargetID == "" {
			t.Errorf("%s: no targetId", f.File)
		}
		if f.Direction == "s2c" && m.TargetID != f.Conn {
			t.Errorf("%s: targetId %q on %s's socket", f.File, m.TargetID, f.Conn)
		}
		if f.Direction == "c2s" && m.Type != wire.TypeJoin && m.TargetID != relayID {
			t.Errorf("%s: targetId %q, relay is %q", f.File, m.TargetID, relayID)
		}
	}

	// alice has storage; bob has none, and cbor-x wrote storageId: undefined.
	if storageIDs["alice"] == "" {
		t.Error("alice joined without a storageId")
	}
	if id, ok := storageIDs["bob"]; !ok || id != "" {
		t.Errorf("bob joined with storageId %q (present: %v)", id, ok)
	}
	var bobJoin []byte
	for _, f := range frames {
		if f.msg.Type == wire.TypeJoin && f.Conn == "bob" {
			bobJoin = f.raw
		}
	}
	if !strings.Contains(string(bobJoin), "storageId\xf7") {
		t.Error("bob's join does not carry storageId: undefined; the capture changed")
	}

	// The relay forwards ephemeral messages with the original senderId, and
	// clients echo them back the same way.
	echoes := 0
	for _, f := range frames {
		if f.msg.Type == wire.TypeEphemeral && f.Direction == "c2s" && f.msg.SenderID != f.Conn {
			echoes++
		}
	}
	if echoes == 0 {
		t.Error("no client relayed another peer's ephemeral message")
	}

	// The request for a document nobody has is answered doc-unavailable.
	var unavailable wire.DocumentID
	for _, f := range frames {
		if f.msg.Type == wire.TypeDocUnavailable {
			unavailable = f.msg.DocumentID
		}
	}
	requested := false
	for _, f := range frames {
		if f.msg.Type == wire.TypeRequest && f.msg.DocumentID == unavailable {
			requested = true
		}
	}
	if unavailable == "" || !requested {
		t.Errorf("doc-unavailable %q does not answer a request", unavailable)
	}
}
