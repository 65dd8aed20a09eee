package client_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// founded starts a relay with a council founded by Ana, and a home with
// Ana's membership and an open replica.
func founded(t testing.TB) (*testRelay, *api.CreateCouncilAnswer, *client.Home, *client.Replica, client.Membership) {
	t.Helper()
	relay := startRelay(t.TempDir())
	t.Cleanup(relay.Close)
	operator, _ := client.New(relay.URL, relay.Operator, nil)
	created, err := operator.CreateCouncil(t.Context(), api.CreateCouncilRequest{Name: "Mill", Kind: crdt.KindWorkers, Founder: &api.MemberRequest{Name: "Ana", Role: crdt.RoleWorker}})
	if err != nil {
		t.Fatal(err)
	}
	home, err := client.OpenHome(t.TempDir() + "/home")
	if err != nil {
		t.Fatal(err)
	}
	m, err := home.Login(t.Context(), relay.URL, created.Token, created.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	replica, err := home.OpenReplica(client.ReplicaOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	return relay, created, home, replica, m
}

func TestSyncAgainAndAgain(t *testing.T) {
	_, created, _, replica, m := founded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		rep, err := replica.Sync(ctx, m)
		if err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		if i > 0 && (rep.Sent != 0 || rep.Received != 0) {
			t.Fatalf("sync %d with nothing new: %+v", i, rep)
		}
		if i == 0 && rep.Received != 2 {
			t.Fatalf("first sync: %+v", rep)
		}
	}
	_ = created
}

// TestSyncStateIsKeptOnBothSides: after a sync, the relay keeps the
// replica's sync state (keyed by the replica's principal and store id) and the replica
// keeps the relay's, so the next sync resumes where they agreed.
func TestSyncStateIsKeptOnBothSides(t *testing.T) {
	relay, created, home, replica, m := founded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := replica.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	laptop, _ := replica.Client(ctx, created.ID)
	if _, err := laptop.Propose(ctx, created.ID, api.ProposalRequest{Title: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	storageID := replica.StorageID()
	replica.Close() // persists its side
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Kept for the replica's principal (the founder) and store id.
		key := server.MemberPrincipal(created.ID, created.Founder).ID + "\x00" + storageID
		_, err := relay.Store.LoadSyncState(ctx, key, created.ID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay keeps no sync state for the replica: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := store.Open(filepath.Join(home.Dir(), "replica"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Kept for the link's principal (the relay, as this member reaches it)
	// and the relay's store id.
	link := "relay:" + m.Relay + "#" + m.Council + "/" + m.Member + "\x00" + relay.ID
	if _, err := st.LoadSyncState(ctx, link, created.ID); err != nil {
		t.Fatalf("the replica keeps no sync state for the relay: %v", err)
	}
}

func TestHomeIsPrivate(t *testing.T) {
	dir := t.TempDir() + "/home"
	home, err := client.OpenHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("home made with mode %v", fi.Mode())
	}
	if err := home.Save(client.Membership{Council: "c", Member: "m", Relay: "http://x", Token: "vt_secret"}); err != nil {
		t.Fatal(err)
	}
	key, err := home.Key()
	if err != nil || len(key) != ed25519.PrivateKeySize {
		t.Fatalf("key: %v", err)
	}
	again, err := home.Key()
	if err != nil || !key.Equal(again) {
		t.Fatal("the device key changed between reads")
	}
	for _, f := range []string{"memberships.json", "key"} {
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", f, fi.Mode())
		}
	}
	// Opened up by hand: refused, saying how to fix it.
	os.Chmod(filepath.Join(dir, "memberships.json"), 0o644)
	if _, err := home.Memberships(); client.ErrorCode(err) != client.CodeUsage || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable token file: %v", err)
	}
	os.Chmod(dir, 0o755)
	if _, err := client.OpenHome(dir); client.ErrorCode(err) != client.CodeUsage || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("a readable home: %v", err)
	}
}

func TestReplicaRefusesWhatItCannotDoOffline(t *testing.T) {
	relay, created, home, replica, m := founded(t)
	ctx := t.Context()
	other := wire.NewDocumentID()
	if _, err := replica.Client(ctx, string(other)); client.ErrorCode(err) != client.CodeOffline {
		t.Fatalf("a council of no membership: %v", err)
	}
	if _, err := replica.Client(ctx, created.ID); client.ErrorCode(err) != client.CodeOffline || !strings.Contains(err.Error(), "veche sync") {
		t.Fatalf("a council never synced: %v", err)
	}
	// The operator's token is no member's.
	if _, err := home.Login(ctx, relay.URL, relay.Operator, "", nil); client.ErrorCode(err) != client.CodeUsage {
		t.Fatalf("login with the operator token: %v", err)
	}
	// A revoked token: the relay refuses the websocket, clearly.
	revoked := m
	revoked.Token = "vt_revoked0000000000000000000000000000000000"
	if _, err := replica.Sync(ctx, revoked); client.ErrorCode(err) != api.CodeUnauthenticated {
		t.Fatalf("sync with a bad token: %v", err)
	}
}

// TestRunRedialsUntilTheRelayAnswers: a replica that keeps its links
// (veche sync --watch) while the relay is away redials with backoff, syncs
// what it did offline once the relay answers, and stays connected.
func TestRunRedialsUntilTheRelayAnswers(t *testing.T) {
	relay, created, _, replica, m := founded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := replica.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	laptop, err := replica.Client(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The relay goes away; the laptop works on.
	addr := strings.TrimPrefix(relay.URL, "http://")
	relay.Stop()
	offline, err := laptop.Propose(ctx, created.ID, api.ProposalRequest{Title: "Made while the relay was away"})
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan error, 16)
	go replica.Run(ctx, func(_ *client.SyncReport, err error) { reports <- err })
	if err := <-reports; client.ErrorCode(err) != client.CodeUnreachable {
		t.Fatalf("first attempt with the relay away: %v", err)
	}
	relay.Restart(addr)
	for err := range reports {
		if err == nil {
			break
		}
	}
	online, _ := client.New(relay.URL, created.Token, nil)
	v, err := online.Council(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Proposal(offline.ID); !ok {
		t.Fatal("the relay lacks what the laptop made while it was away")
	}
	// Still connected: a change on the relay reaches the replica by itself.
	made, err := online.Propose(ctx, created.ID, api.ProposalRequest{Title: "Made on the relay"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if v, err := laptop.Council(ctx, created.ID); err == nil {
			if _, ok := v.Proposal(made.ID); ok {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the change on the relay never reached the connected replica")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestBackoffGrowsWithJitterAndResets(t *testing.T) {
	b := client.Backoff{Min: time.Second, Max: 8 * time.Second}
	var waits []time.Duration
	for range 6 {
		waits = append(waits, b.Next())
	}
	for i, base := range []time.Duration{1, 2, 4, 8, 8, 8} {
		if w := waits[i]; w < base*time.Second || w > base*time.Second*6/5 {
			t.Fatalf("wait %d: %v, want %v plus up to a fifth", i, w, base*time.Second)
		}
	}
	b.Reset()
	if w := b.Next(); w > 1200*time.Millisecond {
		t.Fatalf("after Reset: %v", w)
	}
}

// TestOfflineOperationsAreSignedOnTheDevice: what the replica makes
// offline is signed with the home's device key, registered with the
// council at login: the relay verifies it and counts it as the member's
// own word, not its custodial one; a home whose key the council does not
// know cannot act offline, and the relay's copy is untouched.
func TestOfflineOperationsAreSignedOnTheDevice(t *testing.T) {
	relay, created, _, replica, m := founded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := replica.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	laptop, _ := replica.Client(ctx, created.ID)
	made, err := laptop.Propose(ctx, created.ID, api.ProposalRequest{Title: "Signed on the laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	online, _ := client.New(relay.URL, created.Token, nil)
	h, err := online.History(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	var addKey, proposal *api.HistoryEntry
	for i, e := range h.Changes {
		switch {
		case e.Op == crdt.OpAddKey:
			addKey = &h.Changes[i]
		case e.Op == crdt.OpPropose && e.Args["proposal"] == made.ID:
			proposal = &h.Changes[i]
		}
	}
	if addKey == nil || !addKey.Verified || !addKey.Custodial || addKey.By != m.Member {
		t.Fatalf("the device key's registration: %+v", addKey)
	}
	if proposal == nil || !proposal.Verified || proposal.Custodial || proposal.By != m.Member {
		t.Fatalf("the offline proposal in the relay's history: %+v", proposal)
	}

	// Another laptop of Ana's, its key never registered: refused offline.
	other, err := client.OpenHome(t.TempDir() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(m); err != nil { // the token copied by hand, no login
		t.Fatal(err)
	}
	r2, err := other.OpenReplica(client.ReplicaOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Sync(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Client(ctx, created.ID); client.ErrorCode(err) != client.CodeOffline || !strings.Contains(err.Error(), "veche login") {
		t.Fatalf("a replica whose key does not count for the member: %v", err)
	}
}
