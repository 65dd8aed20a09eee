package crdt

import (
	"time"

	"github.com/automerge/automerge-go"
)

// Member is an entry of the "members" map.
type Member struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Role     string     `json:"role"`
	JoinedAt time.Time  `json:"joinedAt"`
	LeftAt   *time.Time `json:"leftAt,omitempty"`
	// SentBy is set on members of a federation who are delegates of a
	// council: which council sent them and under which mandate (a mandate
	// id in that council's document).
	SentBy *SentBy `json:"sentBy,omitempty"`
	// Keys are the member's keys: the one they were admitted with, those
	// they added, with when each was retired.
	Keys []KeyInfo `json:"keys"`
	// AdmittedBy is the member who signed the admission (the founder
	// admits themself; a delegate takes their seat themself).
	AdmittedBy string `json:"admittedBy,omitempty"`
	// ExpelledBy is the expel proposal that ended the membership, if any.
	ExpelledBy string `json:"expelledBy,omitempty"`

	// Active is derived: ActiveAt(View.Now).
	Active bool `json:"active"`
}

// KeyInfo is one of a member's keys.
type KeyInfo struct {
	// Key is the Ed25519 public key, encoded by EncodeKey.
	Key string `json:"key"`
	// Custodial: a relay holds the private key for the member, so facts
	// signed with it rest on the relay's word.
	Custodial bool       `json:"custodial,omitempty"`
	AddedAt   time.Time  `json:"addedAt"`
	RetiredAt *time.Time `json:"retiredAt,omitempty"`
}

// HasKey reports whether key counts for the member at t: one of their
// keys, added at or before t and not retired at or before t.
func (m Member) HasKey(key string, t time.Time) bool {
	for _, k := range m.Keys {
		if k.Key == key && !k.AddedAt.After(t) && (k.RetiredAt == nil || k.RetiredAt.After(t)) {
			return true
		}
	}
	return false
}

// SentBy says which council sent a delegate, under which mandate.
type SentBy struct {
	Council string `json:"council"` // documentId of the sending council
	Mandate string `json:"mandate"` // mandate id in the sending council's document
}

// ActiveAt reports whether the member belongs to the council at t: joined
// at or before t and not left at or before t.
func (m Member) ActiveAt(t time.Time) bool {
	return !m.JoinedAt.After(t) && (m.LeftAt == nil || m.LeftAt.After(t))
}

// MemberSpec describes a member to admit.
type MemberSpec struct {
	ID   string // optional explicit id; random (NewID) if empty
	Name string // required
	Role string // required, e.g. RoleSmallFarmer
	// Key is the new member's public key (EncodeKey), required: the key
	// their own device holds, or a custodial key a relay holds for them.
	Key string
	// Custodial certifies Key as held by a relay for the member.
	Custodial bool
}

// checkMember validates the parts of a member spec every admission shares.
func (t *tx) checkMember(spec MemberSpec) error {
	if err := t.requireText(spec.Name, "member name"); err != nil {
		return err
	}
	if err := t.requireText(spec.Role, "member role"); err != nil {
		return err
	}
	return t.freshKey(spec.Key)
}

// freshKey checks that key is a valid public key that no member holds or
// held.
func (t *tx) freshKey(key string) error {
	if _, err := DecodeKey(key); err != nil {
		return t.errorf(CodeInvalid, "the new %v", err)
	}
	for _, m := range t.view.Members {
		if hasKey(m, key) {
			return t.errorf(CodeExists, "the key already belongs to member %q", m.ID)
		}
	}
	return nil
}

// hasKey reports whether key is, or was, one of m's keys.
func hasKey(m Member, key string) bool {
	for _, k := range m.Keys {
		if k.Key == key {
			return true
		}
	}
	return false
}

// Join admits a member to the council, joined at at, and returns their id.
// The admission is a fact signed by an active member (as): the key chain
// that makes the new member's key count starts from the admitting
// member's key. A member who left and comes back is admitted again with a
// new id and key.
func Join(doc *automerge.Doc, as Signer, spec MemberSpec, at time.Time) (string, error) {
	t, err := beginAs(doc, OpJoin, as, at)
	if err != nil {
		return "", err
	}
	if spec.Custodial {
		t.arg("custodial", "true")
	}
	return t.admit(spec, nil, "key", spec.Key)
}

// admit checks a new member, allocates their id, records member, name and
// role (and the other arguments, as key/value pairs) in the record and
// writes their entry.
func (t *tx) admit(spec MemberSpec, sent *SentBy, args ...string) (string, error) {
	if err := t.checkMember(spec); err != nil {
		return "", err
	}
	id, err := t.newID(spec.ID, "member", func(id string) bool { _, ok := t.view.member(id); return ok })
	if err != nil {
		return "", err
	}
	t.arg("member", id)
	t.arg("name", spec.Name)
	t.arg("role", spec.Role)
	for i := 0; i+1 < len(args); i += 2 {
		t.arg(args[i], args[i+1])
	}
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, id).Set(memberFields(spec, t.at, sent))
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// memberFields is the document state of a new member.
func memberFields(spec MemberSpec, at time.Time, sentBy *SentBy) map[string]any {
	member := map[string]any{
		"name":     spec.Name,
		"role":     spec.Role,
		"joinedAt": at,
		"keys":     map[string]any{spec.Key: map[string]any{"custodial": spec.Custodial, "addedAt": at}},
	}
	if s := sentBy; s != nil {
		member["sentBy"] = map[string]any{"council": s.Council, "mandate": s.Mandate}
	}
	return member
}

// SeatSpec describes a delegate taking their seat in a federation.
type SeatSpec struct {
	ID   string // optional explicit member id in the federation; random if empty
	Name string // required
	Role string // optional; RoleDelegate if empty
	// Council and Mandate name the sending council (its documentId) and
	// the mandate in its document that sends the delegate here.
	Council string
	Mandate string
}

// TakeSeat seats a delegate in a federation's document (as.Council is the
// federation) and returns their member id there. The seat is signed with
// the delegate's key from their home council (as.Member is their id
// there); readers that hold the home council's log (Councils) count the
// seat only while that mandate is active, for this federation, and the
// home council is an admitted member; without it the seat does not count.
func TakeSeat(doc *automerge.Doc, as Signer, spec SeatSpec, at time.Time) (string, error) {
	t, err := begin(doc, OpSeat, as, at)
	if err != nil {
		return "", err
	}
	if t.view.Council.Kind != KindFederation {
		return "", t.errorf(CodeInvalid, "only a federation seats delegates (this council is %q)", t.view.Council.Kind)
	}
	if !ValidID(spec.Council) || !ValidID(spec.Mandate) {
		return "", t.errorf(CodeInvalid, "a seat names the sending council and mandate by valid ids")
	}
	if !hasLink(t.view.Federation.Members, spec.Council) {
		return "", t.errorf(CodeNotFound, "council %q is not a member of this federation", spec.Council)
	}
	if spec.Role == "" {
		spec.Role = RoleDelegate
	}
	member := MemberSpec{ID: spec.ID, Name: spec.Name, Role: spec.Role, Key: as.PublicKey()}
	return t.admit(member, &SentBy{Council: spec.Council, Mandate: spec.Mandate}, "council", spec.Council, "mandate", spec.Mandate)
}

// Leave records that the signer left the council at at; all their keys
// are retired then. Their past votes on proposals that closed before at
// still count; on proposals closing later they are no longer in the
// electorate.
func Leave(doc *automerge.Doc, as Signer, at time.Time) error {
	t, err := beginAs(doc, OpLeave, as, at)
	if err != nil {
		return err
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, as.Member, "leftAt").Set(t.at)
	})
}

// AddKey adds a device key (public, EncodeKey) to the signer's keys; it
// counts from at. Custodial certifies it as held by a relay.
func AddKey(doc *automerge.Doc, as Signer, key string, custodial bool, at time.Time) error {
	t, err := beginAs(doc, OpAddKey, as, at)
	if err != nil {
		return err
	}
	if err := t.freshKey(key); err != nil {
		return err
	}
	t.arg("key", key)
	if custodial {
		t.arg("custodial", "true")
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, as.Member, "keys", key).Set(map[string]any{"custodial": custodial, "addedAt": t.at})
	})
}

// RetireKey retires one of the signer's keys from at on (a lost phone).
// The signer may retire the key they sign with.
func RetireKey(doc *automerge.Doc, as Signer, key string, at time.Time) error {
	t, err := beginAs(doc, OpRetireKey, as, at)
	if err != nil {
		return err
	}
	m, _ := t.view.member(as.Member)
	if !m.HasKey(key, t.at) {
		return t.errorf(CodeNotFound, "%q is not a current key of member %q", key, as.Member)
	}
	t.arg("key", key)
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, as.Member, "keys", key, "retiredAt").Set(t.at)
	})
}
