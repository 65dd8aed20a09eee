package crdt

import (
	"time"
	"unicode/utf8"

	"github.com/automerge/automerge-go"
)

// Proposal is an entry of the "proposals" map, with its derived outcome.
type Proposal struct {
	ID    string       `json:"id"`
	Kind  ProposalKind `json:"kind"`
	Title string       `json:"title"`
	// Body is the collaborative text (an Automerge Text) of the proposal.
	Body        string     `json:"body"`
	By          string     `json:"by"`
	At          time.Time  `json:"at"`
	ClosesAt    *time.Time `json:"closesAt,omitempty"`
	WithdrawnAt *time.Time `json:"withdrawnAt,omitempty"`
	// Subject is the mandate id of a recall or mandate proposal, and an
	// optional offer or need id of an exchange proposal.
	Subject string `json:"subject,omitempty"`
	Votes   []Vote `json:"votes"`
	// NewRule is the rule a proposal of kind rule puts in force if it passes.
	NewRule *Rule `json:"newRule,omitempty"`
	// signed holds every signed vote of each member, in replay order: the
	// document state may show any of them (a vote changed after closing).
	signed map[string][]Choice
	// Custodial: signed with a key a relay holds for the proposer.
	Custodial bool `json:"custodial,omitempty"`

	// Outcome is derived (see the package documentation).
	Outcome Outcome `json:"outcome"`
	// ClosedAt is derived: the moment the proposal stopped being open — its
	// closing time, the moment everyone had voted, or its withdrawal. Nil
	// while open.
	ClosedAt *time.Time `json:"closedAt,omitempty"`
	// Tally is derived: the count at ClosedAt, or at View.Now while open.
	Tally Tally `json:"tally"`
}

// ProposalSpec describes a proposal to make.
type ProposalSpec struct {
	ID    string       // optional explicit id; random (NewID) if empty
	Kind  ProposalKind // general, recall or exchange for Propose; mandate (or empty) for ProposeMandate
	Title string       // required
	Body  string       // optional initial body text
	// ClosesAt, if not zero, is when voting closes; it must be after the
	// proposal's time. If zero, the proposal is decided as soon as every
	// member has voted.
	ClosesAt time.Time
	// Subject: for a recall, the id of the (active) mandate to recall; for
	// an expel proposal, the id of the member to expel; for an exchange,
	// optionally an offer or need id; empty otherwise.
	Subject string
	// Rule is the new rule of a proposal of kind rule.
	Rule *Rule
}

// TextEdit is one splice of a collaborative text: delete Delete characters
// at Pos, then insert Insert there. Positions and lengths count Unicode
// code points (runes), as automerge-go does.
type TextEdit struct {
	Pos    int    `json:"pos"`
	Delete int    `json:"delete"`
	Insert string `json:"insert"`
}

// TextEditBetween returns the single splice that turns old into new,
// keeping their common prefix and suffix, so that a client that sends a
// whole new text still merges with concurrent edits elsewhere in it.
func TextEditBetween(old, new string) TextEdit {
	o, n := []rune(old), []rune(new)
	p := 0
	for p < len(o) && p < len(n) && o[p] == n[p] {
		p++
	}
	s := 0
	for s < len(o)-p && s < len(n)-p && o[len(o)-1-s] == n[len(n)-1-s] {
		s++
	}
	return TextEdit{Pos: p, Delete: len(o) - p - s, Insert: string(n[p : len(n)-s])}
}

// checkEdit validates edit against the current value of a text.
func (t *tx) checkEdit(edit TextEdit, text string) error {
	n := utf8.RuneCountInString(text)
	if edit.Pos < 0 || edit.Delete < 0 || edit.Pos > n || edit.Delete > n-edit.Pos {
		return t.errorf(CodeInvalid, "edit at %d deleting %d is outside the text of length %d", edit.Pos, edit.Delete, n)
	}
	if !utf8.ValidString(edit.Insert) {
		return t.errorf(CodeInvalid, "inserted text is not valid UTF-8")
	}
	return nil
}

// Propose makes a general, recall or exchange proposal by member by and
// returns its id. Mandate proposals are made with ProposeMandate. A recall
// names an active mandate in spec.Subject. The proposal is created with an
// empty votes map and its body as an Automerge Text.
func Propose(doc *automerge.Doc, as Signer, spec ProposalSpec, at time.Time) (string, error) {
	t, err := beginAs(doc, OpPropose, as, at)
	if err != nil {
		return "", err
	}
	switch spec.Kind {
	case ProposalGeneral:
		if spec.Subject != "" {
			return "", t.errorf(CodeInvalid, "a general proposal has no subject")
		}
	case ProposalRecall:
		m, ok := t.view.mandate(spec.Subject)
		if !ok {
			return "", t.errorf(CodeNotFound, "no mandate %q to recall", spec.Subject)
		}
		if m.Status != MandateActive {
			return "", t.errorf(CodeMandateNotActive, "mandate %q is %s, only an active mandate can be recalled", m.ID, m.Status)
		}
		t.arg("mandate", m.ID)
	case ProposalExchange:
		if spec.Subject != "" {
			_, isOffer := t.view.Offer(spec.Subject)
			_, isNeed := t.view.need(spec.Subject)
			if !isOffer && !isNeed {
				return "", t.errorf(CodeNotFound, "no offer or need %q", spec.Subject)
			}
		}
	case ProposalRule:
		if spec.Rule == nil || !spec.Rule.Valid() {
			return "", t.errorf(CodeInvalid, "a rule proposal needs a valid rule: quorum in [0, 1], majority in [0, 1)")
		}
		if spec.Subject != "" {
			return "", t.errorf(CodeInvalid, "a rule proposal has no subject")
		}
		t.arg("quorum", formatFloat(spec.Rule.Quorum))
		t.arg("majority", formatFloat(spec.Rule.Majority))
	case ProposalExpel:
		if _, err := t.activeMember(spec.Subject, "member to expel"); err != nil {
			return "", err
		}
	case ProposalMandate:
		return "", t.errorf(CodeInvalid, "make mandate proposals with ProposeMandate")
	default:
		return "", t.errorf(CodeInvalid, "proposal kind %q: want general, mandate, recall, exchange, rule or expel", spec.Kind)
	}
	id, fields, err := t.proposal(spec)
	if err != nil {
		return "", err
	}
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyProposals, id).Set(fields)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// proposal validates the parts of spec common to every kind, allocates the
// id, records it in the message and returns the map to write.
func (t *tx) proposal(spec ProposalSpec) (string, map[string]any, error) {
	if err := t.requireText(spec.Title, "proposal title"); err != nil {
		return "", nil, err
	}
	if !utf8.ValidString(spec.Body) {
		return "", nil, t.errorf(CodeInvalid, "proposal body is not valid UTF-8")
	}
	fields := map[string]any{
		"kind":    string(spec.Kind),
		"title":   spec.Title,
		keyBody:   automerge.NewText(spec.Body),
		"by":      t.signer.Member,
		"at":      t.at,
		keyVotes:  map[string]any{},
		"subject": spec.Subject,
	}
	if spec.Subject == "" {
		delete(fields, "subject")
	}
	if spec.Rule != nil && spec.Kind == ProposalRule {
		fields["rule"] = map[string]any{"quorum": spec.Rule.Quorum, "majority": spec.Rule.Majority}
	}
	t.arg("kind", string(spec.Kind))
	t.arg("title", spec.Title)
	t.arg("subject", spec.Subject)
	if !spec.ClosesAt.IsZero() {
		if !validTime(spec.ClosesAt) {
			return "", nil, t.errorf(CodeInvalid, "closing time %v is out of range", spec.ClosesAt)
		}
		closes := msTime(spec.ClosesAt)
		if !closes.After(t.at) {
			return "", nil, t.errorf(CodeInvalid, "closing time %v is not after the proposal (%v)", closes, t.at)
		}
		fields["closesAt"] = closes
		t.arg("closes-at", millis(closes))
	}
	id, err := t.newID(spec.ID, "proposal", func(id string) bool { _, ok := t.view.proposal(id); return ok })
	if err != nil {
		return "", nil, err
	}
	t.arg("proposal", id)
	return id, fields, nil
}

// openProposal returns the proposal id if it is open at the operation's
// time: ErrNotFound if there is none, ErrProposalClosed if it is decided or
// withdrawn.
func (t *tx) openProposal(id string) (*Proposal, error) {
	p, ok := t.view.proposal(id)
	if !ok {
		return nil, t.errorf(CodeNotFound, "no proposal %q", id)
	}
	if p.Outcome != OutcomeOpen {
		return nil, t.errorf(CodeProposalClosed, "proposal %q is %s", id, p.Outcome)
	}
	t.arg("proposal", id)
	return p, nil
}

// WithdrawProposal withdraws an open proposal; only its proposer may. A
// withdrawn mandate proposal leaves its mandate rejected.
func WithdrawProposal(doc *automerge.Doc, as Signer, proposalID string, at time.Time) error {
	t, err := beginAs(doc, OpWithdrawProposal, as, at)
	if err != nil {
		return err
	}
	p, err := t.openProposal(proposalID)
	if err != nil {
		return err
	}
	if p.By != as.Member {
		return t.errorf(CodeNotProposer, "proposal %q was made by %q", p.ID, p.By)
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyProposals, proposalID, "withdrawnAt").Set(t.at)
	})
}

// EditProposal splices the body text of an open proposal. Any active
// member may edit; concurrent edits merge character by character. A
// decided proposal's body no longer changes (ErrProposalClosed).
func EditProposal(doc *automerge.Doc, as Signer, proposalID string, edit TextEdit, at time.Time) error {
	t, err := beginAs(doc, OpEditProposal, as, at)
	if err != nil {
		return err
	}
	t.unsigned = true // collaborative text: content, not a fact
	p, err := t.openProposal(proposalID)
	if err != nil {
		return err
	}
	if err := t.checkEdit(edit, currentText(doc, keyProposals, p.ID, keyBody)); err != nil {
		return err
	}
	return t.commit(func(w *automerge.Doc) error {
		return editText(w, edit, keyProposals, proposalID, keyBody)
	})
}
