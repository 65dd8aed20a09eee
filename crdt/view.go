package crdt

import (
	"strings"
	"time"
)

// View is a council document as read at one moment: the stored facts plus
// the statuses derived from them at Now. It is a plain value, safe to keep
// and to encode as JSON (the REST API returns it as is).
//
// Lists are in a fixed order that does not depend on how the document was
// merged: members by (joinedAt, id), proposals by (at, id), votes by member
// id, mandates by (issuedAt, id), offers, needs and pledges by (at, id),
// federation links by council id, minutes in document (list) order. Lists
// are never nil.
type View struct {
	// ID is the council's id, the document id its founding record names
	// (CouncilID); "" if the log holds no valid founding record.
	ID string `json:"id"`
	// Schema is the schema the view follows: Schema once a founding record
	// counts, "" otherwise.
	Schema string `json:"schema"`
	// Now is the moment derived statuses were computed for.
	Now        time.Time  `json:"now"`
	Council    Council    `json:"council"`
	Members    []Member   `json:"members"`
	Proposals  []Proposal `json:"proposals"`
	Mandates   []Mandate  `json:"mandates"`
	Exchange   Exchange   `json:"exchange"`
	Federation Federation `json:"federation"`
	Minutes    []Minutes  `json:"minutes"`

	// foundingRule is the rule the founding record set: the one the
	// document state holds (a passed rule proposal changes the rule in
	// force, not the state).
	foundingRule Rule
}

// Problem is something Read found wrong in a document: a missing or
// mistyped field, an unknown schema, a reference to nothing. The value
// concerned is skipped or replaced by a default; the rest is read.
type Problem struct {
	// Path is a JSON pointer (RFC 6901) into the document, e.g.
	// "/proposals/3fa9c2d1e0b4a7f6/votes/m1/choice"; "" is the root.
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String returns "path: message".
func (p Problem) String() string {
	return p.Path + ": " + p.Message
}

// pointer appends key to a JSON pointer, escaping "~" and "/".
func pointer(path, key string) string {
	key = strings.ReplaceAll(key, "~", "~0")
	key = strings.ReplaceAll(key, "/", "~1")
	return path + "/" + key
}

// newView returns an empty view at now with non-nil lists.
func newView(now time.Time) View {
	return View{
		Now:       now,
		Members:   []Member{},
		Proposals: []Proposal{},
		Mandates:  []Mandate{},
		Exchange: Exchange{
			Offers:  []Offer{},
			Needs:   []Need{},
			Pledges: []Pledge{},
		},
		Federation: Federation{
			MemberOf: []FederationLink{},
			Members:  []FederationLink{},
		},
		Minutes: []Minutes{},
	}
}

// Member returns the member with the given id.
func (v View) Member(id string) (Member, bool) {
	m, ok := v.member(id)
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// Proposal returns the proposal with the given id.
func (v View) Proposal(id string) (Proposal, bool) {
	p, ok := v.proposal(id)
	if !ok {
		return Proposal{}, false
	}
	return *p, true
}

// Mandate returns the mandate with the given id.
func (v View) Mandate(id string) (Mandate, bool) {
	m, ok := v.mandate(id)
	if !ok {
		return Mandate{}, false
	}
	return *m, true
}

// Offer returns the offer with the given id.
func (v View) Offer(id string) (Offer, bool) {
	for i := range v.Exchange.Offers {
		if v.Exchange.Offers[i].ID == id {
			return v.Exchange.Offers[i], true
		}
	}
	return Offer{}, false
}

// Need returns the need with the given id.
func (v View) Need(id string) (Need, bool) {
	n, ok := v.need(id)
	if !ok {
		return Need{}, false
	}
	return *n, true
}

func (v *View) member(id string) (*Member, bool) {
	for i := range v.Members {
		if v.Members[i].ID == id {
			return &v.Members[i], true
		}
	}
	return nil, false
}

func (v *View) proposal(id string) (*Proposal, bool) {
	for i := range v.Proposals {
		if v.Proposals[i].ID == id {
			return &v.Proposals[i], true
		}
	}
	return nil, false
}

func (v *View) mandate(id string) (*Mandate, bool) {
	for i := range v.Mandates {
		if v.Mandates[i].ID == id {
			return &v.Mandates[i], true
		}
	}
	return nil, false
}

func (v *View) need(id string) (*Need, bool) {
	for i := range v.Exchange.Needs {
		if v.Exchange.Needs[i].ID == id {
			return &v.Exchange.Needs[i], true
		}
	}
	return nil, false
}
