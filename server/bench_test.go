package server

import (
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

var histories = []int{100, 1000, 10000}

// historyDoc returns a document with n changes, each setting one key.
func historyDoc(b *testing.B, n int) *automerge.Doc {
	b.Helper()
	doc := automerge.New()
	for i := range n {
		if err := doc.RootMap().Set(fmt.Sprintf("k%d", i%64), int64(i)); err != nil {
			b.Fatal(err)
		}
		if _, err := doc.Commit(""); err != nil {
			b.Fatal(err)
		}
	}
	return doc
}

// syncPair brings two sync states to a steady state between relay and peer.
func syncPair(b *testing.B, relay, peer *automerge.SyncState) {
	b.Helper()
	for range 20 {
		quiet := true
		if m, ok := relay.GenerateMessage(); ok {
			quiet = false
			if _, err := peer.ReceiveMessage(m.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
		if m, ok := peer.GenerateMessage(); ok {
			quiet = false
			if _, err := relay.ReceiveMessage(m.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
		if quiet {
			return
		}
	}
}

// inSync returns a relay's document of n changes, a peer's copy, and their
// sync states brought to a steady state.
func inSync(b *testing.B, n int) (relayDoc, peerDoc *automerge.Doc, rs, ps *automerge.SyncState) {
	b.Helper()
	relayDoc = historyDoc(b, n)
	peerDoc, _ = relayDoc.Fork()
	rs, ps = automerge.NewSyncState(relayDoc), automerge.NewSyncState(peerDoc)
	syncPair(b, rs, ps)
	return relayDoc, peerDoc, rs, ps
}

// BenchmarkApply measures the relay applying a sync message that carries
// one new change, against documents of growing history.
func BenchmarkApply(b *testing.B) {
	for _, n := range histories {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			_, peerDoc, rs, ps := inSync(b, n)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				peerDoc.RootMap().Set("x", int64(i))
				peerDoc.Commit("")
				m, _ := ps.GenerateMessage()
				raw := m.Bytes()
				b.StartTimer()
				if _, err := rs.ReceiveMessage(raw); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				syncPair(b, rs, ps)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkGenerate measures the relay generating the sync message that
// carries one new change to a peer, against documents of growing history.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range histories {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			relayDoc, _, rs, ps := inSync(b, n)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				relayDoc.RootMap().Set("x", int64(i))
				relayDoc.Commit("")
				b.StartTimer()
				m, ok := rs.GenerateMessage()
				b.StopTimer()
				if !ok {
					b.Fatal("nothing generated for a new change")
				}
				ps.ReceiveMessage(m.Bytes())
				syncPair(b, rs, ps)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFanOut measures the whole relay — decode, apply, commit to
// bbolt (without fsync), generate per peer, encode — from one peer's change
// until ten peers hold it, against documents of growing history. It also
// reports sync messages the relay sent per change.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range histories {
		b.Run(fmt.Sprintf("history=%d/peers=10", n), func(b *testing.B) {
			r := newTestRelay(b, openStore(b), Options{SyncInterval: 5e6})
			id := wire.NewDocumentID()
			writer := connect(b, r, "writer", nil)
			seed := historyDoc(b, n)
			writer.mu.Lock()
			writer.docLocked(id).doc = seed
			writer.docs[id].state = automerge.NewSyncState(seed)
			writer.mu.Unlock()
			writer.syncDoc(id, wire.TypeSync)
			var readers []*testPeer
			for i := range 10 {
				p := connect(b, r, fmt.Sprintf("reader%d", i), nil)
				p.find(id)
				readers = append(readers, p)
			}
			for _, p := range readers {
				p.waitFor("seed", func() bool { return p.get(id, "k0") != nil })
			}
			drain := func() int {
				c := 0
				for _, p := range readers {
					for len(p.inbox) > 0 {
						<-p.inbox
						c++
					}
				}
				return c
			}
			drain()
			sent := 0
			b.ResetTimer()
			for i := range b.N {
				writer.change(id, "x", int64(i))
				for _, p := range readers {
					p.waitValue(id, "x", int64(i))
				}
				sent += drain()
			}
			b.ReportMetric(float64(sent)/float64(b.N)/10, "msgs/peer/change")
		})
	}
}
