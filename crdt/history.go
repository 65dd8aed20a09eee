package crdt

import (
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// Op names an operation. It is the first word of the change message every
// operation commits (see ParseChangeMessage).
type Op string

// Operations, one per exported function that writes a document.
const (
	OpCreateCouncil    Op = "create-council"    // CreateCouncil
	OpJoin             Op = "join"              // Join
	OpLeave            Op = "leave"             // Leave
	OpPropose          Op = "propose"           // Propose
	OpProposeMandate   Op = "propose-mandate"   // ProposeMandate
	OpEditProposal     Op = "edit-proposal"     // EditProposal
	OpWithdrawProposal Op = "withdraw-proposal" // WithdrawProposal
	OpVote             Op = "vote"              // CastVote
	OpReport           Op = "report"            // SubmitReport
	OpResign           Op = "resign"            // Resign
	OpComplete         Op = "complete"          // Complete
	OpPostOffer        Op = "post-offer"        // PostOffer
	OpPostNeed         Op = "post-need"         // PostNeed
	OpWithdrawOffer    Op = "withdraw-offer"    // WithdrawOffer
	OpWithdrawNeed     Op = "withdraw-need"     // WithdrawNeed
	OpPledge           Op = "pledge"            // MakePledge
	OpJoinFederation   Op = "join-federation"   // JoinFederation
	OpLeaveFederation  Op = "leave-federation"  // LeaveFederation
	OpAdmitCouncil     Op = "admit-council"     // AdmitCouncil
	OpRemoveCouncil    Op = "remove-council"    // RemoveCouncil
	OpStartMinutes     Op = "start-minutes"     // StartMinutes
	OpEditMinutes      Op = "edit-minutes"      // EditMinutes
	OpSeat             Op = "seat"              // TakeSeat
	OpAddKey           Op = "add-key"           // AddKey
	OpRetireKey        Op = "retire-key"        // RetireKey
)

// messagePrefix starts every change message written by this package.
const messagePrefix = "veche:"

// ChangeInfo is what a change message says: which operation, by which
// member, on what.
type ChangeInfo struct {
	// Op is the operation, e.g. OpVote.
	Op Op `json:"op"`
	// By is the id of the acting member; empty for OpCreateCouncil. For a
	// pledge from another council it is a member id of that council.
	By string `json:"by,omitempty"`
	// Args holds the other key=value pairs, e.g. "proposal" → its id.
	// Keys used: proposal, mandate, member, offer, need, pledge, minutes,
	// council, federation. Unknown keys are kept.
	Args map[string]string `json:"args,omitempty"`
}

// ParseChangeMessage parses the message of a change written by this
// package:
//
//	veche:<op> [by=<memberId>] [<key>=<value> ...]
//
// fields separated by single spaces, values never containing spaces or "="
// (they are ids). It reports false for messages not in this form, e.g.
// changes written by other tools.
func ParseChangeMessage(msg string) (ChangeInfo, bool) {
	rest, ok := strings.CutPrefix(msg, messagePrefix)
	if !ok {
		return ChangeInfo{}, false
	}
	fields := strings.Split(rest, " ")
	op := fields[0]
	if op == "" || strings.Contains(op, "=") {
		return ChangeInfo{}, false
	}
	info := ChangeInfo{Op: Op(op)}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" || strings.Contains(v, "=") {
			return ChangeInfo{}, false
		}
		if k == "by" {
			info.By = v
			continue
		}
		if info.Args == nil {
			info.Args = map[string]string{}
		}
		info.Args[k] = v
	}
	return info, true
}

// String formats info as a change message; ParseChangeMessage reverses it.
// Args are written in sorted key order.
func (info ChangeInfo) String() string {
	var b strings.Builder
	b.WriteString(messagePrefix)
	b.WriteString(string(info.Op))
	if info.By != "" {
		b.WriteString(" by=")
		b.WriteString(info.By)
	}
	for _, k := range sortedKeys(info.Args) {
		b.WriteString(" ")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(info.Args[k])
	}
	return b.String()
}

// HistoryEntry is one change of a document's history.
type HistoryEntry struct {
	Hash    string    `json:"hash"`    // hex change hash
	Actor   string    `json:"actor"`   // hex Automerge actor id of the writing replica
	Seq     uint64    `json:"seq"`     // sequence number of the change for its actor
	Time    time.Time `json:"time"`    // the change's timestamp: the operation's at
	Message string    `json:"message"` // the raw change message
	// Info is the parsed summary (the first line of the message, never
	// trusted: see Log for the verified record); Veche is false when the
	// message was not written by this package (Info is then zero).
	Info  ChangeInfo `json:"info"`
	Veche bool       `json:"veche"`
}

// History lists the changes of doc in causal order (every change after the
// changes it depends on), with their parsed messages.
func History(doc *automerge.Doc) ([]HistoryEntry, error) {
	changes, err := doc.Changes()
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(changes))
	for _, c := range changes {
		e := HistoryEntry{
			Hash:    c.Hash().String(),
			Actor:   c.ActorID(),
			Seq:     c.ActorSeq(),
			Time:    c.Timestamp().UTC(),
			Message: c.Message(),
		}
		// The summary is the first line; a record line may follow.
		summary, _, _ := strings.Cut(e.Message, "\n")
		e.Info, e.Veche = ParseChangeMessage(summary)
		out = append(out, e)
	}
	return out, nil
}
