package crdt

import (
	"time"

	"github.com/automerge/automerge-go"
)

// Vote is an entry of a proposal's "votes" map: the member's current choice
// (the map is keyed by member id, so a member has one vote, and a changed
// vote replaces the earlier one).
type Vote struct {
	Member string    `json:"member"`
	Choice Choice    `json:"choice"`
	At     time.Time `json:"at"`
	// Counted is derived: whether the vote is in the proposal's Tally — the
	// member is in the electorate and voted at or before the tally moment.
	Counted bool `json:"counted"`
	// Custodial: signed with a key a relay holds for the member.
	Custodial bool `json:"custodial,omitempty"`
}

// CastVote records the signer's choice on a proposal, replacing the
// member's earlier vote. The whole vote {choice, at} is written as one new
// map, so concurrent votes of one member resolve to one of them, never a
// mix. It refuses a proposal that is decided or withdrawn at at
// (ErrProposalClosed) and a member who left (ErrMemberLeft).
//
// A vote made offline after the proposal closed still reaches the document
// when replicas merge; the reader ignores it (it was cast after closing),
// and because it replaced the member's earlier vote, that member then
// counts as not having voted.
func CastVote(doc *automerge.Doc, as Signer, proposalID string, choice Choice, at time.Time) error {
	t, err := beginAs(doc, OpVote, as, at)
	if err != nil {
		return err
	}
	if !choice.Valid() {
		return t.errorf(CodeInvalid, "choice %q: want yes, no or abstain", choice)
	}
	p, err := t.openProposal(proposalID)
	if err != nil {
		return err
	}
	if t.at.Before(p.At) {
		return t.errorf(CodeInvalid, "vote at %v is before the proposal (%v)", t.at, p.At)
	}
	t.arg("choice", string(choice))
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyProposals, proposalID, keyVotes, as.Member).Set(map[string]any{
			"choice": string(choice),
			"at":     t.at,
		})
	})
}
