package wire_test

import (
	"fmt"
	"os"

	"github.com/veche-sync/veche/server/wire"
)

// Answering a join the way upstream's server does.
func Example() {
	frame, _ := os.ReadFile("testdata/frames/0001-c2s-join.cbor") // as sent by a browser
	join, err := wire.Decode(frame, wire.DefaultMaxFrameSize)
	if err == nil {
		err = join.Validate()
	}
	if err != nil {
		fmt.Println("bad join:", err)
		return
	}
	reply := wire.Message{Type: wire.TypeError, SenderID: "relay", TargetID: join.SenderID, ErrorMessage: "unsupported protocol version"}
	if v, ok := wire.SelectProtocolVersion(join.SupportedProtocolVersions); ok {
		reply = wire.Message{
			Type:                    wire.TypePeer,
			SenderID:                "relay",
			TargetID:                join.SenderID,
			PeerMetadata:            &wire.PeerMetadata{StorageID: "relay-storage"},
			SelectedProtocolVersion: v,
		}
	}
	out, _ := wire.Encode(reply)
	fmt.Printf("%s from %s (ephemeral: %v) → %s, %d bytes\n",
		join.Type, join.SenderID, join.PeerMetadata.IsEphemeral, reply.Type, len(out))
	// Output: join from alice (ephemeral: false) → peer, 118 bytes
}

func ExampleDecode_errors() {
	for _, frame := range [][]byte{
		{0x81, 0x01},                     // an array
		{0xa1, 0x61, 'x', 0x01},          // a map without "type"
		{0xa1, 0x64, 't', 'y', 'p', 'e'}, // truncated
	} {
		_, err := wire.Decode(frame, 0)
		fmt.Println(err)
	}
	// Output:
	// wire: not a CBOR map: top-level value is an array
	// wire: message has no type
	// wire: not a CBOR map: truncated
}

func ExampleParseURL() {
	id, err := wire.ParseURL("automerge:4KiMYeCRzQoq3QknKaKoAj4btvqR#2hW3HS3X1683QczFUm1FmhGhHYvbbQTA8WXe834HaMprfviraG")
	fmt.Println(id, err, len(id.Bytes()))
	_, err = wire.ParseURL("automerge:4KiMYeCRzQoq3QknKaKoAj4btvqS")
	fmt.Println(err)
	// Output:
	// 4KiMYeCRzQoq3QknKaKoAj4btvqR <nil> 16
	// wire: bad automerge URL: wire: bad document id "4KiMYeCRzQoq3QknKaKoAj4btvqS": bad checksum
}
