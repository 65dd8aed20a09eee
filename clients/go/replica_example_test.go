package client_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

// A field laptop works on a council with no network, and syncs when its
// relay answers again.
func ExampleReplica() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	relay := startRelay(sub(dir, "relay"))
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	operator, _ := client.New(relay.URL, relay.Operator, nil)
	created, _ := operator.CreateCouncil(ctx, api.CreateCouncilRequest{
		Name: "Riverside growers", Kind: crdt.KindFarmers,
		Founder: &api.MemberRequest{Name: "Ana", Role: crdt.RoleSmallFarmer},
	})

	// Ana's laptop: a home (config directory) holding her token, and its
	// replica, synced once while the relay answers.
	home, _ := client.OpenHome(sub(dir, "ana"))
	m, _ := home.Login(ctx, relay.URL, created.Token, "", nil)
	replica, _ := home.OpenReplica(client.ReplicaOptions{NoSync: true})
	defer replica.Close()
	if _, err := replica.Sync(ctx, m); err != nil {
		fmt.Println(err)
		return
	}

	// Offline: the same typed calls, answered by the replica.
	laptop, _ := replica.Client(ctx, created.ID)
	offer, _ := laptop.PostOffer(ctx, created.ID, api.ProduceRequest{Item: "seed potatoes", Quantity: 200, Unit: "kg"})

	// Back online: one sync carries it to the relay.
	report, _ := replica.Sync(ctx, m)
	fmt.Println("sent:", report.Sent)
	online, _ := client.New(relay.URL, created.Token, nil)
	v, _ := online.Council(ctx, created.ID)
	o, _ := v.Offer(offer.ID)
	fmt.Println("the relay has:", o.Quantity, o.Unit, o.Item)
	// Output:
	// sent: 1
	// the relay has: 200 kg seed potatoes
}
