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

	// Active is derived: ActiveAt(View.Now).
	Active bool `json:"active"`
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

// MemberSpec describes a member joining.
type MemberSpec struct {
	ID   string // optional explicit id; random (NewID) if empty
	Name string // required
	Role string // required, e.g. RoleSmallFarmer
	// SentBy is for delegates joining a federation council; only allowed
	// when the document's council kind is federation.
	SentBy *SentBy
}

// Join adds a member to the council, joined at at, and returns its id. The
// change is attributed to the new member (by=<id>). A member who left and
// comes back joins again with a new id.
func Join(doc *automerge.Doc, spec MemberSpec, at time.Time) (string, error) {
	t, err := begin(doc, OpJoin, at)
	if err != nil {
		return "", err
	}
	if err := t.requireText(spec.Name, "member name"); err != nil {
		return "", err
	}
	if err := t.requireText(spec.Role, "member role"); err != nil {
		return "", err
	}
	if spec.SentBy != nil {
		if t.view.Council.Kind != KindFederation {
			return "", t.errorf(CodeInvalid, "only a federation has members sent by councils (this council is %q)", t.view.Council.Kind)
		}
		if !ValidID(spec.SentBy.Council) || !ValidID(spec.SentBy.Mandate) {
			return "", t.errorf(CodeInvalid, "sentBy %+v: council and mandate must be valid ids", *spec.SentBy)
		}
	}
	id, err := t.newID(spec.ID, "member", func(id string) bool { _, ok := t.view.member(id); return ok })
	if err != nil {
		return "", err
	}
	t.info.By = id
	member := map[string]any{
		"name":     spec.Name,
		"role":     spec.Role,
		"joinedAt": t.at,
	}
	if s := spec.SentBy; s != nil {
		member["sentBy"] = map[string]any{"council": s.Council, "mandate": s.Mandate}
	}
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, id).Set(member)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// Leave records that the member left the council at at. The member's past
// votes on proposals that closed before at still count; on proposals
// closing later the member is no longer in the electorate.
func Leave(doc *automerge.Doc, memberID string, at time.Time) error {
	t, err := begin(doc, OpLeave, at)
	if err != nil {
		return err
	}
	if _, err := t.actor(memberID); err != nil {
		return err
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMembers, memberID, "leftAt").Set(t.at)
	})
}
