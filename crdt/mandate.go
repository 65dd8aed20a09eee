package crdt

import (
	"time"

	"github.com/automerge/automerge-go"
)

// Mandate is an entry of the "mandates" map: a delegate sent for one
// specific task to one specific body, approved by one proposal of kind
// mandate, with its derived status.
type Mandate struct {
	ID   string `json:"id"`
	Task string `json:"task"`
	// Body is the documentId of the council the delegate acts in (usually
	// a federation).
	Body string `json:"body"`
	// Delegate is the member id (in this council) of the delegate.
	Delegate string `json:"delegate"`
	// Proposal is the id of the approving proposal (kind mandate). This
	// field is the link that decides the status; the proposal's subject
	// names the mandate too, for display.
	Proposal    string     `json:"proposal"`
	IssuedAt    time.Time  `json:"issuedAt"`
	ResignedAt  *time.Time `json:"resignedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	Reports     []Report   `json:"reports"`

	// Status is derived (see the package documentation).
	Status MandateStatus `json:"status"`
	// ApprovedAt is derived: when the approving proposal passed.
	ApprovedAt *time.Time `json:"approvedAt,omitempty"`
	// EndedAt is derived: when the mandate was rejected, recalled,
	// resigned or completed.
	EndedAt *time.Time `json:"endedAt,omitempty"`
	// RecalledBy is derived: the recall proposal that ended the mandate.
	RecalledBy string `json:"recalledBy,omitempty"`
}

// Report is an entry of a mandate's "reports" list: the delegate's account
// to the council that sent them.
type Report struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// MandateSpec describes a mandate to propose.
type MandateSpec struct {
	ID       string // optional explicit id; random (NewID) if empty
	Task     string // required: the one specific task
	Body     string // required: documentId of the council the delegate acts in
	Delegate string // required: id of an active member of this council
}

// ProposeMandate proposes to send a delegate: in one change it creates a
// proposal of kind mandate (subject = the mandate id) and the mandate
// (proposal = the proposal id, issuedAt = at, an empty reports list). The
// mandate is pending while the proposal is open, active once it passes and
// rejected if it does not. p.Kind must be empty or mandate and p.Subject
// empty or the mandate's id.
func ProposeMandate(doc *automerge.Doc, as Signer, p ProposalSpec, m MandateSpec, at time.Time) (proposalID, mandateID string, err error) {
	t, err := beginAs(doc, OpProposeMandate, as, at)
	if err != nil {
		return "", "", err
	}
	if p.Kind != "" && p.Kind != ProposalMandate {
		return "", "", t.errorf(CodeInvalid, "ProposeMandate makes proposals of kind mandate, not %q", p.Kind)
	}
	if err := t.requireText(m.Task, "mandate task"); err != nil {
		return "", "", err
	}
	if !ValidID(m.Body) {
		return "", "", t.errorf(CodeInvalid, "mandate body %q is not a valid document id", m.Body)
	}
	if !hasLink(t.view.Federation.MemberOf, m.Body) {
		return "", "", t.errorf(CodeInvalid, "mandate body %q is not a federation this council belongs to (join it first)", m.Body)
	}
	if _, err := t.activeMember(m.Delegate, "delegate"); err != nil {
		return "", "", err
	}
	mandateID, err = t.newID(m.ID, "mandate", func(id string) bool { _, ok := t.view.mandate(id); return ok })
	if err != nil {
		return "", "", err
	}
	if p.Subject != "" && p.Subject != mandateID {
		return "", "", t.errorf(CodeInvalid, "subject %q of a mandate proposal must be its mandate %q", p.Subject, mandateID)
	}
	p.Kind, p.Subject = ProposalMandate, mandateID
	proposalID, fields, err := t.proposal(p)
	delete(t.args, "kind")
	delete(t.args, "subject")
	if err != nil {
		return "", "", err
	}
	t.arg("mandate", mandateID)
	t.arg("member", m.Delegate)
	t.arg("task", m.Task)
	t.arg("body", m.Body)
	mandate := map[string]any{
		"task":     m.Task,
		"body":     m.Body,
		"delegate": m.Delegate,
		"proposal": proposalID,
		"issuedAt": t.at,
		keyReports: []any{},
	}
	err = t.commit(func(w *automerge.Doc) error {
		if err := w.Path(keyProposals, proposalID).Set(fields); err != nil {
			return err
		}
		return w.Path(keyMandates, mandateID).Set(mandate)
	})
	if err != nil {
		return "", "", err
	}
	return proposalID, mandateID, nil
}

// delegateOf checks that by is an active member and the delegate of the
// mandate, and that the mandate's status at the operation's time is one of
// allowed.
func (t *tx) delegateOf(by, mandateID string, allowed ...MandateStatus) (*Mandate, error) {
	m, ok := t.view.mandate(mandateID)
	if !ok {
		return nil, t.errorf(CodeNotFound, "no mandate %q", mandateID)
	}
	t.arg("mandate", mandateID)
	if m.Delegate != by {
		return nil, t.errorf(CodeNotDelegate, "member %q is not the delegate of mandate %q", by, mandateID)
	}
	for _, s := range allowed {
		if m.Status == s {
			return m, nil
		}
	}
	return nil, t.errorf(CodeMandateNotActive, "mandate %q is %s", mandateID, m.Status)
}

// SubmitReport appends the delegate's report to an active mandate.
// Reports are appended to a list, so concurrent reports are all kept.
func SubmitReport(doc *automerge.Doc, as Signer, mandateID, text string, at time.Time) error {
	t, err := beginAs(doc, OpReport, as, at)
	if err != nil {
		return err
	}
	if _, err := t.delegateOf(as.Member, mandateID, MandateActive); err != nil {
		return err
	}
	if err := t.requireText(text, "report text"); err != nil {
		return err
	}
	t.arg("text", text)
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMandates, mandateID, keyReports).List().Append(map[string]any{
			"at":   t.at,
			"by":   as.Member,
			"text": text,
		})
	})
}

// Resign records the delegate's resignation from a pending or active
// mandate.
func Resign(doc *automerge.Doc, as Signer, mandateID string, at time.Time) error {
	t, err := beginAs(doc, OpResign, as, at)
	if err != nil {
		return err
	}
	if _, err := t.delegateOf(as.Member, mandateID, MandatePending, MandateActive); err != nil {
		return err
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMandates, mandateID, "resignedAt").Set(t.at)
	})
}

// Complete records that the delegate completed the task of an active
// mandate.
func Complete(doc *automerge.Doc, as Signer, mandateID string, at time.Time) error {
	t, err := beginAs(doc, OpComplete, as, at)
	if err != nil {
		return err
	}
	if _, err := t.delegateOf(as.Member, mandateID, MandateActive); err != nil {
		return err
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMandates, mandateID, "completedAt").Set(t.at)
	})
}

// mandateEvent is a fact that ends a mandate, for deriveMandate.
type mandateEvent struct {
	status MandateStatus
	at     time.Time
	rank   int    // breaks ties: recalled (0) before resigned (1) before completed (2)
	recall string // the recall proposal, for recalled
}

// deriveMandate sets m's Status, ApprovedAt, EndedAt and RecalledBy at now,
// given the proposals (outcomes already derived) by id and the passed
// recall proposals naming it:
//
//   - pending while the approving proposal is open (or missing);
//   - rejected if it was withdrawn, rejected or lacked quorum;
//   - otherwise the earliest ending event at or before now decides —
//     completedAt → completed, resignedAt → resigned, the closing moment
//     of a passed recall → recalled — ties broken recalled, resigned,
//     completed, then by recall id; with no event, active.
//
// Events are compared by time whatever order they were merged in, so a
// resignation and a recall made concurrently offline give the same status
// on every replica, and a recall passing after a resignation leaves the
// mandate resigned.
func deriveMandate(m *Mandate, proposals map[string]*Proposal, recalls []*Proposal, left *time.Time, now time.Time) {
	m.Status, m.ApprovedAt, m.EndedAt, m.RecalledBy = MandatePending, nil, nil, ""
	p, ok := proposals[m.Proposal]
	if !ok {
		return
	}
	switch p.Outcome {
	case OutcomeOpen:
		return
	case OutcomePassed:
		m.ApprovedAt = p.ClosedAt
	default:
		m.Status, m.EndedAt = MandateRejected, p.ClosedAt
		return
	}
	var events []mandateEvent
	if m.CompletedAt != nil && !m.CompletedAt.After(now) {
		events = append(events, mandateEvent{MandateCompleted, *m.CompletedAt, 2, ""})
	}
	if m.ResignedAt != nil && !m.ResignedAt.After(now) {
		events = append(events, mandateEvent{MandateResigned, *m.ResignedAt, 1, ""})
	}
	if left != nil && !left.After(now) {
		// A delegate who leaves the council gives up the mandate with it.
		events = append(events, mandateEvent{MandateResigned, *left, 1, ""})
	}
	for _, r := range recalls {
		if r.Outcome == OutcomePassed && r.ClosedAt != nil {
			events = append(events, mandateEvent{MandateRecalled, *r.ClosedAt, 0, r.ID})
		}
	}
	if len(events) == 0 {
		m.Status = MandateActive
		return
	}
	first := events[0]
	for _, e := range events[1:] {
		if e.at.Before(first.at) ||
			e.at.Equal(first.at) && (e.rank < first.rank || e.rank == first.rank && e.recall < first.recall) {
			first = e
		}
	}
	at := first.at
	m.Status, m.EndedAt, m.RecalledBy = first.status, &at, first.recall
}
