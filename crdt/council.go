package crdt

import (
	"math"
	"time"

	"github.com/automerge/automerge-go"
)

// Council is the "council" map of a document: who the council is and how it
// decides.
type Council struct {
	Name      string      `json:"name"`
	Kind      CouncilKind `json:"kind"`
	Region    string      `json:"region"`
	CreatedAt time.Time   `json:"createdAt"`
	Rule      Rule        `json:"rule"`
}

// Rule is a council's decision rule. Both fields are fractions stored as
// Automerge numbers and compared in IEEE-754 double arithmetic, exactly as
// a JavaScript client computes them:
//
//	quorum met  ⇔ float64(yes+no+abstain) ≥ Quorum × float64(|electorate|)
//	passed      ⇔ quorum met ∧ float64(yes) > Majority × float64(yes+no)
type Rule struct {
	// Quorum is the fraction of the electorate that must vote (yes, no or
	// abstain) for a decision to count, in [0, 1].
	Quorum float64 `json:"quorum"`
	// Majority is the fraction of yes+no votes that yes must exceed, in
	// [0, 1). 0.5 is a simple majority: a tie is rejected.
	Majority float64 `json:"majority"`
}

// DefaultRule is the rule Read assumes, with a problem, when a document's
// rule is missing or invalid: half the electorate must vote, and a simple
// majority decides.
var DefaultRule = Rule{Quorum: 0.5, Majority: 0.5}

// Valid reports whether both fractions are in range (see Rule).
func (r Rule) Valid() bool {
	return r.Quorum >= 0 && r.Quorum <= 1 && r.Majority >= 0 && r.Majority < 1 &&
		!math.IsNaN(r.Quorum) && !math.IsNaN(r.Majority)
}

// CouncilSpec describes a council to create.
type CouncilSpec struct {
	Name   string      // required
	Kind   CouncilKind // required: farmers, workers, consumers or federation
	Region string      // optional, free text
	Rule   Rule        // required to be Valid; there is no implicit default
}

// CreateCouncil writes a new council into doc, which must not hold one yet
// (an empty automerge.New() document): the schema, the council map, and
// every container the other operations write into (members, proposals,
// mandates, exchange.offers/needs/pledges, federation.memberOf/members,
// minutes). Creating containers once, here, matters: two replicas that
// each created a missing container concurrently would conflict, and one
// container with everything in it would be lost.
//
// Create a council on one replica and share the document; do not create
// the same council twice. The change message has no by= (the council has
// no members yet).
func CreateCouncil(doc *automerge.Doc, spec CouncilSpec, at time.Time) error {
	const op = OpCreateCouncil
	if doc == nil {
		return errorf(op, CodeInvalid, "nil document")
	}
	if !validTime(at) {
		return errorf(op, CodeInvalid, "time %v is zero or out of range", at)
	}
	at = msTime(at)
	t := &tx{op: op, doc: doc, at: at, info: ChangeInfo{Op: op}}
	if err := t.requireText(spec.Name, "council name"); err != nil {
		return err
	}
	if !spec.Kind.Valid() {
		return t.errorf(CodeInvalid, "council kind %q: want farmers, workers, consumers or federation", spec.Kind)
	}
	if !spec.Rule.Valid() {
		return t.errorf(CodeInvalid, "rule %+v: quorum must be in [0, 1], majority in [0, 1)", spec.Rule)
	}
	root, err := doc.RootMap().Keys()
	if err != nil {
		return &Error{Code: CodeMalformed, Op: op, Message: "cannot read the document root", Err: err}
	}
	if len(root) > 0 {
		return t.errorf(CodeExists, "the document is not empty (it has %d root keys)", len(root))
	}
	return t.commit(func(w *automerge.Doc) error {
		r := w.RootMap()
		if err := r.Set(keySchema, Schema); err != nil {
			return err
		}
		council := map[string]any{
			"name":      spec.Name,
			"kind":      string(spec.Kind),
			"region":    spec.Region,
			"createdAt": at,
			"rule": map[string]any{
				"quorum":   spec.Rule.Quorum,
				"majority": spec.Rule.Majority,
			},
		}
		containers := map[string]any{
			keyCouncil:   council,
			keyMembers:   map[string]any{},
			keyProposals: map[string]any{},
			keyMandates:  map[string]any{},
			keyExchange: map[string]any{
				keyOffers:  map[string]any{},
				keyNeeds:   map[string]any{},
				keyPledges: map[string]any{},
			},
			keyFederation: map[string]any{
				keyMemberOf:   map[string]any{},
				keyFedMembers: map[string]any{},
			},
			keyMinutes: []any{},
		}
		for _, k := range sortedKeys(containers) {
			if err := r.Set(k, containers[k]); err != nil {
				return err
			}
		}
		return nil
	})
}

// NewCouncil returns a new document holding a new council, created by
// CreateCouncil on automerge.New().
func NewCouncil(spec CouncilSpec, at time.Time) (*automerge.Doc, error) {
	doc := automerge.New()
	if err := CreateCouncil(doc, spec, at); err != nil {
		return nil, err
	}
	return doc, nil
}
