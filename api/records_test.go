package api_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// TestClientSignedRecords: a member adds their own device's key, then
// signs facts on the device and sends them to the relay, which applies
// them as they are. The facts rest on the member's key (not custodial);
// records signed with an unknown key, for another council, tampered with,
// or not what the operation makes are refused and change nothing; once
// the member retires the custodial key, the relay can no longer sign for
// them.
func TestClientSignedRecords(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben := cc.join(id, "Ben")
	base := "/api/councils/" + id
	seed := sha256.Sum256([]byte("ana's phone"))
	device := crdt.Signer{Council: id, Member: ana, Key: ed25519.NewKeyFromSeed(seed[:])}

	// Before the key is added it counts for nothing.
	p := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ana, "title": "Share the seed store"})
	now := time.Now()
	vote, err := crdt.SignRecord(device, id, crdt.OpVote, now, map[string]string{"proposal": p.ID, "choice": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", base+"/records", map[string]any{"by": ana, "record": vote.Line()})

	// Ana adds her phone's key (the relay signs that with her custodial key).
	added := cc.write(http.StatusCreated, "POST", base+"/keys", map[string]any{"by": ana, "key": device.PublicKey()})
	m, _ := added.View.Member(ana)
	if len(m.Keys) != 2 || m.Keys[1].Key != device.PublicKey() || m.Keys[1].Custodial || !m.Keys[0].Custodial {
		t.Fatalf("ana's keys after adding her phone's: %+v", m.Keys)
	}

	// Now her phone's vote counts, and rests on her own key. Anyone with
	// write access may deliver it (here Ben's token): the signature decides.
	vote, _ = crdt.SignRecord(device, id, crdt.OpVote, time.Now(), map[string]string{"proposal": p.ID, "choice": "yes"})
	got := cc.write(http.StatusCreated, "POST", base+"/records", map[string]any{"by": ben, "record": vote.Line()})
	pr, _ := got.View.Proposal(p.ID)
	if got.By != ana || len(pr.Votes) != 1 || pr.Votes[0].Member != ana || pr.Votes[0].Custodial || pr.Tally.Yes != 1 {
		t.Fatalf("the phone's vote: by %q, proposal %+v", got.By, pr)
	}
	var history api.HistoryAnswer
	cc.must(http.StatusOK, "GET", base+"/history", nil, &history)
	last := history.Changes[len(history.Changes)-1]
	if last.By != ana || !last.Verified || last.Custodial || !strings.Contains(last.Message, vote.Line()) {
		t.Fatalf("history of the phone's vote: %+v", last)
	}

	// Refused, changing nothing: a key nobody added, another council, a
	// tampered payload, a record that is not what the operation makes,
	// and a record dated far in the future.
	stranger := crdt.Signer{Council: id, Member: ana, Key: crdt.NewKey()}
	forged, _ := crdt.SignRecord(stranger, id, crdt.OpVote, time.Now(), map[string]string{"proposal": p.ID, "choice": "no"})
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", base+"/records", map[string]any{"by": ana, "record": forged.Line()})
	other, _ := cc.create("Mill workers", "Dora")
	foreign, _ := crdt.SignRecord(device, other, crdt.OpVote, time.Now(), map[string]string{"proposal": p.ID, "choice": "no"})
	cc.refused(id, http.StatusBadRequest, api.CodeInvalidArgument, "POST", base+"/records", map[string]any{"by": ana, "record": foreign.Line()})
	fields := strings.Split(vote.Line(), " ")
	tampered := fields[0] + " " + fields[1][:len(fields[1])-2] + "AA " + fields[2]
	cc.refused(id, http.StatusBadRequest, api.CodeInvalidArgument, "POST", base+"/records", map[string]any{"by": ana, "record": tampered})
	odd, _ := crdt.SignRecord(device, id, crdt.OpVote, time.Now(), map[string]string{"proposal": p.ID, "choice": "no", "extra": "x"})
	cc.refused(id, http.StatusBadRequest, api.CodeInvalidArgument, "POST", base+"/records", map[string]any{"by": ana, "record": odd.Line()})
	future, _ := crdt.SignRecord(device, id, crdt.OpVote, time.Now().Add(time.Hour), map[string]string{"proposal": p.ID, "choice": "no"})
	cc.refused(id, http.StatusBadRequest, api.CodeInvalidArgument, "POST", base+"/records", map[string]any{"by": ana, "record": future.Line()})

	// Ana retires the custodial key from her phone: from then on the relay
	// cannot act in her name, while her phone still can.
	retire, _ := crdt.SignRecord(device, id, crdt.OpRetireKey, time.Now(), map[string]string{"key": m.Keys[0].Key})
	cc.write(http.StatusCreated, "POST", base+"/records", map[string]any{"by": ana, "record": retire.Line()})
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", base+"/proposals", map[string]any{"by": ana, "title": "In Ana's name"})
	offer, _ := crdt.SignRecord(device, id, crdt.OpPostOffer, time.Now(), map[string]string{"offer": "o1", "item": "rye", "quantity": "2.5", "unit": "t"})
	after := cc.write(http.StatusCreated, "POST", base+"/records", map[string]any{"by": ana, "record": offer.Line()})
	if o, ok := after.View.Offer("o1"); !ok || o.By != ana || o.Quantity != 2.5 || o.Custodial {
		t.Fatalf("the phone's offer: %+v", o)
	}
}
