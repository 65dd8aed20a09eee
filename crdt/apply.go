package crdt

import (
	"strconv"
	"time"

	"github.com/automerge/automerge-go"
)

// ApplyRecord makes the operation a record describes, signed elsewhere —
// by a member's own device — and carries the record as is: the relay
// writes the document state and the change, the member's key signs. It
// validates exactly as the operation does when the member signs locally
// (the record's key must count for its member at its time, the
// proposal must be open, …) and also that the record is for council and
// not dated after now + MaxSkew; then the operation must rebuild exactly
// the record's arguments: ids given explicitly, no empty values, numbers
// in Go's shortest form (strconv 'g' -1), times in decimal milliseconds.
// It returns the id the operation made (member, proposal, offer, need,
// pledge or minutes; "" for the others). The founding record cannot be
// applied this way: a council is founded with CreateCouncil.
func ApplyRecord(doc *automerge.Doc, council string, rec *Record, now time.Time) (string, error) {
	op := Op("")
	if rec != nil {
		op = rec.Op
	}
	switch {
	case rec == nil || len(rec.Payload) == 0 || len(rec.Sig) == 0:
		return "", errorf(op, CodeInvalid, "no signed record (parse it with ParseRecord)")
	case rec.Council != council:
		return "", errorf(op, CodeInvalid, "the record is for council %q, not %q", rec.Council, council)
	case rec.At.After(now.Add(MaxSkew)):
		return "", errorf(op, CodeInvalid, "the record is dated %v, in the future", rec.At)
	}
	as := Signer{Council: council, Member: rec.By, signed: rec}
	a := rec.Args
	at := rec.At
	switch rec.Op {
	case OpJoin:
		return Join(doc, as, MemberSpec{ID: a["member"], Name: a["name"], Role: a["role"], Key: a["key"], Custodial: a["custodial"] == "true"}, at)
	case OpSeat:
		return TakeSeat(doc, as, SeatSpec{ID: a["member"], Name: a["name"], Role: a["role"], Council: a["council"], Mandate: a["mandate"]}, at)
	case OpAddKey:
		return "", AddKey(doc, as, a["key"], a["custodial"] == "true", at)
	case OpRetireKey:
		return "", RetireKey(doc, as, a["key"], at)
	case OpLeave:
		return "", Leave(doc, as, at)
	case OpPropose:
		spec := ProposalSpec{ID: a["proposal"], Kind: ProposalKind(a["kind"]), Title: a["title"], Subject: a["subject"], ClosesAt: argTime(a["closes-at"])}
		if a["quorum"] != "" || a["majority"] != "" {
			r, _ := parseRule(a)
			spec.Rule = &r
		}
		return Propose(doc, as, spec, at)
	case OpProposeMandate:
		p, _, err := ProposeMandate(doc, as, ProposalSpec{ID: a["proposal"], Title: a["title"], ClosesAt: argTime(a["closes-at"])},
			MandateSpec{ID: a["mandate"], Task: a["task"], Body: a["body"], Delegate: a["member"]}, at)
		return p, err
	case OpWithdrawProposal:
		return "", WithdrawProposal(doc, as, a["proposal"], at)
	case OpVote:
		return "", CastVote(doc, as, a["proposal"], Choice(a["choice"]), at)
	case OpReport:
		return "", SubmitReport(doc, as, a["mandate"], a["text"], at)
	case OpResign:
		return "", Resign(doc, as, a["mandate"], at)
	case OpComplete:
		return "", Complete(doc, as, a["mandate"], at)
	case OpPostOffer, OpPostNeed:
		key := "offer"
		if rec.Op == OpPostNeed {
			key = "need"
		}
		spec := ProduceSpec{ID: a[key], Item: a["item"], Quantity: argFloat(a["quantity"]), Unit: a["unit"], From: argTime(a["from"]), Until: argTime(a["until"]), Note: a["note"]}
		if rec.Op == OpPostOffer {
			return PostOffer(doc, as, spec, at)
		}
		return PostNeed(doc, as, spec, at)
	case OpWithdrawOffer:
		return "", WithdrawOffer(doc, as, a["offer"], at)
	case OpWithdrawNeed:
		return "", WithdrawNeed(doc, as, a["need"], at)
	case OpPledge:
		return MakePledge(doc, as, PledgeSpec{ID: a["pledge"], Need: a["need"], Offer: a["offer"], Council: a["council"], Quantity: argFloat(a["quantity"]), Unit: a["unit"]}, at)
	case OpJoinFederation:
		return "", JoinFederation(doc, as, a["federation"], at)
	case OpLeaveFederation:
		return "", LeaveFederation(doc, as, a["federation"], at)
	case OpAdmitCouncil:
		return "", AdmitCouncil(doc, as, a["council"], at)
	case OpRemoveCouncil:
		return "", RemoveCouncil(doc, as, a["council"], at)
	case OpStartMinutes:
		return StartMinutes(doc, as, MinutesSpec{ID: a["minutes"], Title: a["title"]}, at)
	}
	return "", errorf(rec.Op, CodeInvalid, "operation %q cannot be applied from a record", rec.Op)
}

// argTime parses a time argument (decimal milliseconds); zero if absent
// or malformed (the operation then rebuilds different arguments and
// refuses the record).
func argTime(s string) time.Time {
	t, _ := parseMillis(s)
	return t
}

// argFloat parses a number argument; 0 if malformed (refused as not
// positive by the operation).
func argFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f
}
