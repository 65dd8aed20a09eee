package client_test

import (
	"context"
	"fmt"
	"os"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

// A council passes a proposal through the typed API client.
func ExampleClient() {
	dir := tempDir()
	defer os.RemoveAll(dir)
	relay := startRelay(dir)
	defer relay.Close()
	ctx := context.Background()

	// The operator founds a council; the answer holds the founder's token.
	operator, _ := client.New(relay.URL, relay.Operator, nil)
	created, err := operator.CreateCouncil(ctx, api.CreateCouncilRequest{
		Name: "Riverside growers", Kind: crdt.KindFarmers,
		Founder: &api.MemberRequest{Name: "Ana", Role: crdt.RoleSmallFarmer},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ana := operator.WithToken(created.Token)

	// Ana invites Ben, who accepts with no token of his own.
	invite, _ := ana.Invite(ctx, created.ID, api.InviteRequest{})
	joined, _ := ana.WithToken("").AcceptInvite(ctx, api.AcceptInviteRequest{Code: invite.Code, Name: "Ben"})
	ben := ana.WithToken(joined.Token)

	// A proposal, and both vote: every member has voted, so it is decided.
	p, _ := ana.Propose(ctx, created.ID, api.ProposalRequest{Title: "Share the seed store"})
	_, _ = ana.Vote(ctx, created.ID, p.ID, api.VoteRequest{Choice: crdt.Yes})
	ans, _ := ben.Vote(ctx, created.ID, p.ID, api.VoteRequest{Choice: crdt.Yes})
	proposal, _ := ans.View.Proposal(p.ID)
	fmt.Println(proposal.Title+":", proposal.Outcome)

	// A refused write answers one error type, with the API's code.
	_, err = ben.Vote(ctx, created.ID, p.ID, api.VoteRequest{Choice: crdt.No})
	fmt.Println(client.ErrorCode(err))
	// Output:
	// Share the seed store: passed
	// proposal_closed
}
