package crdt

import (
	"math"
	"strconv"
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
	// Founder is the first member: name and role required; the key is the
	// founder signer's (CreateCouncil fills it in).
	Founder MemberSpec
}

// CreateCouncil founds a council in doc, which must not hold one yet (an
// empty automerge.New() document), and returns the council's id. The
// founding record — council name, kind, region, rule, the founder and
// their key, a random nonce — is signed by the founder (founder.Key; a
// founder.Member of "" gets a random id, or spec.Founder.ID) and names the
// council: the id returned is CouncilID of its payload, and the document
// must be stored under that automerge-repo documentId, which every reader
// checks. The change also writes the schema, the council map and every
// container the other operations write into (members, proposals,
// mandates, exchange.offers/needs/pledges, federation.memberOf/members,
// minutes). Creating containers once, here, matters: two replicas that
// each created a missing container concurrently would conflict, and one
// container with everything in it would be lost.
func CreateCouncil(doc *automerge.Doc, spec CouncilSpec, founder Signer, at time.Time) (string, error) {
	const op = OpCreateCouncil
	if doc == nil {
		return "", errorf(op, CodeInvalid, "nil document")
	}
	if !validTime(at) {
		return "", errorf(op, CodeInvalid, "time %v is zero or out of range", at)
	}
	at = msTime(at)
	if founder.Member == "" {
		founder.Member = spec.Founder.ID
	}
	if founder.Member == "" {
		founder.Member = NewID()
	}
	if !founder.valid() {
		return "", errorf(op, CodeInvalid, "the founder needs a valid member id and an Ed25519 private key")
	}
	t := &tx{op: op, doc: doc, at: at, info: ChangeInfo{Op: op, By: founder.Member}, signer: founder}
	if err := t.requireText(spec.Name, "council name"); err != nil {
		return "", err
	}
	if !spec.Kind.Valid() {
		return "", t.errorf(CodeInvalid, "council kind %q: want farmers, workers, consumers or federation", spec.Kind)
	}
	if !spec.Rule.Valid() {
		return "", t.errorf(CodeInvalid, "rule %+v: quorum must be in [0, 1], majority in [0, 1)", spec.Rule)
	}
	if err := t.requireText(spec.Founder.Name, "founder name"); err != nil {
		return "", err
	}
	if err := t.requireText(spec.Founder.Role, "founder role"); err != nil {
		return "", err
	}
	root, err := doc.RootMap().Keys()
	if err != nil {
		return "", &Error{Code: CodeMalformed, Op: op, Message: "cannot read the document root", Err: err}
	}
	if len(root) > 0 {
		return "", t.errorf(CodeExists, "the document is not empty (it has %d root keys)", len(root))
	}
	t.arg("name", spec.Name)
	t.arg("kind", string(spec.Kind))
	t.arg("region", spec.Region)
	t.arg("quorum", formatFloat(spec.Rule.Quorum))
	t.arg("majority", formatFloat(spec.Rule.Majority))
	t.arg("member", founder.Member)
	t.arg("member-name", spec.Founder.Name)
	t.arg("member-role", spec.Founder.Role)
	t.arg("nonce", NewID()+NewID())
	if founder.Custodial {
		t.arg("custodial", "true")
	}
	msg, rec, err := t.message("")
	if err != nil {
		return "", err
	}
	id := CouncilID(rec.Payload)
	spec.Founder.Key, spec.Founder.Custodial = founder.PublicKey(), founder.Custodial
	err = t.commitMessage(msg, func(w *automerge.Doc) error {
		r := w.RootMap()
		if err := r.Set(keySchema, Schema); err != nil {
			return err
		}
		council := map[string]any{
			"id":        id,
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
			keyMembers:   map[string]any{founder.Member: memberFields(spec.Founder, at, nil)},
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
	if err != nil {
		return "", err
	}
	return id, nil
}

// NewCouncil returns a new document holding a new council, founded by
// CreateCouncil on automerge.New(), and the council's id.
func NewCouncil(spec CouncilSpec, founder Signer, at time.Time) (*automerge.Doc, string, error) {
	doc := automerge.New()
	id, err := CreateCouncil(doc, spec, founder, at)
	if err != nil {
		return nil, "", err
	}
	return doc, id, nil
}

// formatFloat formats a number argument of a record: the shortest decimal
// that parses back to f.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
