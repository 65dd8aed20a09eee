package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
)

// BenchmarkReplicaSync measures one `veche sync` of a replica with a relay
// on loopback: with nothing new (a round trip of heads), and carrying
// changes made offline (proposals, each one change).
func BenchmarkReplicaSync(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("offline-changes=%d", n), func(b *testing.B) {
			_, created, _, replica, m := founded(b)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := replica.Sync(ctx, m); err != nil {
				b.Fatal(err)
			}
			laptop, err := replica.Client(ctx, created.ID)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for i := range n {
					if _, err := laptop.Propose(ctx, created.ID, api.ProposalRequest{Title: fmt.Sprint("p", i)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				rep, err := replica.Sync(ctx, m)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Sent != n {
					b.Fatalf("sent %d, want %d", rep.Sent, n)
				}
			}
		})
	}
}
