package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/veche-sync/veche/server/wire"
)

func TestValidateFullMessages(t *testing.T) {
	for _, m := range fullMessages {
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", m.Type, err)
		}
	}
}

// without returns a copy of the fullMessages entry of type typ with one
// field cleared by clear.
func without(t *testing.T, typ wire.Type, clear func(*wire.Message)) wire.Message {
	t.Helper()
	for _, m := range fullMessages {
		if m.Type == typ {
			clear(&m)
			return m
		}
	}
	t.Fatalf("no full %s message", typ)
	return wire.Message{}
}

func TestValidateRequiredFields(t *testing.T) {
	noSender := func(m *wire.Message) { m.SenderID = "" }
	noTarget := func(m *wire.Message) { m.TargetID = "" }
	noDoc := func(m *wire.Message) { m.DocumentID = "" }
	noData := func(m *wire.Message) { m.Data = nil }
	emptyData := func(m *wire.Message) { m.Data = []byte{} }
	tests := []struct {
		typ   wire.Type
		clear func(*wire.Message)
		field string
	}{
		{wire.TypeJoin, noSender, "senderId"},
		{wire.TypeLeave, noSender, "senderId"},
		{wire.TypePeer, noSender, "senderId"},
		{wire.TypePeer, noTarget, "targetId"},
		{wire.TypePeer, func(m *wire.Message) { m.SelectedProtocolVersion = "" }, "selectedProtocolVersion"},
		{wire.TypeError, noSender, "senderId"},
		{wire.TypeError, func(m *wire.Message) { m.ErrorMessage = "" }, "message"},
		{wire.TypeRequest, noSender, "senderId"},
		{wire.TypeRequest, noTarget, "targetId"},
		{wire.TypeRequest, noDoc, "documentId"},
		{wire.TypeRequest, noData, "data"},
		{wire.TypeRequest, emptyData, "data"},
		{wire.TypeSync, noSender, "senderId"},
		{wire.TypeSync, noTarget, "targetId"},
		{wire.TypeSync, noDoc, "documentId"},
		{wire.TypeSync, noData, "data"},
		{wire.TypeDocUnavailable, noSender, "senderId"},
		{wire.TypeDocUnavailable, noTarget, "targetId"},
		{wire.TypeDocUnavailable, noDoc, "documentId"},
		{wire.TypeEphemeral, noSender, "senderId"},
		{wire.TypeEphemeral, noTarget, "targetId"},
		{wire.TypeEphemeral, noDoc, "documentId"},
		{wire.TypeEphemeral, noData, "data"},
		{wire.TypeEphemeral, func(m *wire.Message) { m.SessionID = "" }, "sessionId"},
		{wire.TypeEphemeral, func(m *wire.Message) { m.Count = 0 }, "count"},
		{wire.TypeRemoteSubscriptionChange, noSender, "senderId"},
		{wire.TypeRemoteSubscriptionChange, noTarget, "targetId"},
		{wire.TypeRemoteHeadsChanged, noSender, "senderId"},
		{wire.TypeRemoteHeadsChanged, noTarget, "targetId"},
		{wire.TypeRemoteHeadsChanged, noDoc, "documentId"},
		{wire.TypeRemoteHeadsChanged, func(m *wire.Message) { m.NewHeads = nil }, "newHeads"},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ)+" "+tt.field, func(t *testing.T) {
			err := without(t, tt.typ, tt.clear).Validate()
			if !errors.Is(err, wire.ErrMissingField) {
				t.Fatalf("err = %v, want ErrMissingField", err)
			}
			if !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestValidateOptionalFields(t *testing.T) {
	tests := []struct {
		typ   wire.Type
		clear func(*wire.Message)
	}{
		// Upstream's server treats a join without versions as version 1.
		{wire.TypeJoin, func(m *wire.Message) { m.SupportedProtocolVersions = nil }},
		{wire.TypeJoin, func(m *wire.Message) { m.PeerMetadata = nil }},
		{wire.TypeJoin, func(m *wire.Message) { m.TargetID = "" }},
		{wire.TypePeer, func(m *wire.Message) { m.PeerMetadata = nil }},
		// A relay may report an error before it knows who it talks to.
		{wire.TypeError, func(m *wire.Message) { m.TargetID = "" }},
		{wire.TypeRemoteSubscriptionChange, func(m *wire.Message) { m.Add, m.Remove = nil, nil }},
		{wire.TypeRemoteHeadsChanged, func(m *wire.Message) { m.NewHeads = map[string]wire.HeadsAtTime{} }},
	}
	for _, tt := range tests {
		if err := without(t, tt.typ, tt.clear).Validate(); err != nil {
			t.Errorf("%s: %v", tt.typ, err)
		}
	}
}

func TestValidateBadValues(t *testing.T) {
	for _, typ := range []wire.Type{wire.TypeRequest, wire.TypeSync, wire.TypeDocUnavailable, wire.TypeEphemeral, wire.TypeRemoteHeadsChanged} {
		for _, id := range []wire.DocumentID{"automerge:" + testID, testID + "x", "0OIl", "e4ee5754-b834-4df7-b0f2-e2b9fe6ae2d0"} {
			err := without(t, typ, func(m *wire.Message) { m.DocumentID = id }).Validate()
			if !errors.Is(err, wire.ErrBadDocumentID) {
				t.Errorf("%s with documentId %q: err = %v, want ErrBadDocumentID", typ, id, err)
			}
		}
	}
	err := without(t, wire.TypeEphemeral, func(m *wire.Message) { m.Count = 1 << 53 }).Validate()
	if !errors.Is(err, wire.ErrBadField) {
		t.Errorf("count 2^53: err = %v, want ErrBadField", err)
	}
	if err := (wire.Message{}).Validate(); !errors.Is(err, wire.ErrMissingType) {
		t.Errorf("no type: err = %v, want ErrMissingType", err)
	}
}

func TestSelectProtocolVersion(t *testing.T) {
	tests := []struct {
		supported []string
		ok        bool
	}{
		{nil, true},
		{[]string{"1"}, true},
		{[]string{"2", "1"}, true},
		{[]string{}, false},
		{[]string{"2"}, false},
		{[]string{"1.0"}, false},
	}
	for _, tt := range tests {
		v, ok := wire.SelectProtocolVersion(tt.supported)
		if ok != tt.ok || (ok && v != wire.ProtocolVersion) || (!ok && v != "") {
			t.Errorf("SelectProtocolVersion(%q) = %q, %v; want ok=%v", tt.supported, v, ok, tt.ok)
		}
	}
}
