package crdt

import (
	"time"

	"github.com/automerge/automerge-go"
)

// Federation is the "federation" map. A council's document lists the
// federations it belongs to in MemberOf; a federation's document lists its
// member councils in Members. The two sides live in two documents and are
// written by two operations, one per document.
type Federation struct {
	MemberOf []FederationLink `json:"memberOf"`
	Members  []FederationLink `json:"members"`
}

// FederationLink is an entry of federation.memberOf or federation.members:
// another council's documentId, and since when the link holds.
type FederationLink struct {
	Council string    `json:"council"`
	Since   time.Time `json:"since"`
}

// federationLink checks the acting member and the id of the other
// document.
func (t *tx) federationLink(id, what string) error {
	if !ValidID(id) || id == t.view.ID {
		return t.errorf(CodeInvalid, "%s %q is not a valid document id", what, id)
	}
	t.arg(what, id)
	return nil
}

func hasLink(links []FederationLink, id string) bool {
	for _, l := range links {
		if l.Council == id {
			return true
		}
	}
	return false
}

// JoinFederation records, in a council's own document, that the council
// belongs to the federation whose documentId is federationID
// (federation.memberOf). The federation's document records the other side
// with AdmitCouncil.
func JoinFederation(doc *automerge.Doc, as Signer, federationID string, at time.Time) error {
	t, err := beginAs(doc, OpJoinFederation, as, at)
	if err != nil {
		return err
	}
	if err := t.federationLink(federationID, "federation"); err != nil {
		return err
	}
	if hasLink(t.view.Federation.MemberOf, federationID) {
		return t.errorf(CodeExists, "already a member of federation %q", federationID)
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyFederation, keyMemberOf, federationID).Set(map[string]any{"since": t.at})
	})
}

// LeaveFederation removes, in a council's own document, its membership of
// a federation (the memberOf entry is deleted). The federation's document
// records the other side with RemoveCouncil.
func LeaveFederation(doc *automerge.Doc, as Signer, federationID string, at time.Time) error {
	t, err := beginAs(doc, OpLeaveFederation, as, at)
	if err != nil {
		return err
	}
	if err := t.federationLink(federationID, "federation"); err != nil {
		return err
	}
	if !hasLink(t.view.Federation.MemberOf, federationID) {
		return t.errorf(CodeNotFound, "not a member of federation %q", federationID)
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyFederation, keyMemberOf, federationID).Delete()
	})
}

// AdmitCouncil records, in a federation's document (council kind
// federation), that the council whose documentId is councilID is a member
// (federation.members). The acting member is a member of the federation,
// typically a delegate.
func AdmitCouncil(doc *automerge.Doc, as Signer, councilID string, at time.Time) error {
	t, err := beginAs(doc, OpAdmitCouncil, as, at)
	if err != nil {
		return err
	}
	if t.view.Council.Kind != KindFederation {
		return t.errorf(CodeInvalid, "the document's council is %q, not a federation", t.view.Council.Kind)
	}
	if err := t.federationLink(councilID, "council"); err != nil {
		return err
	}
	if hasLink(t.view.Federation.Members, councilID) {
		return t.errorf(CodeExists, "council %q is already a member", councilID)
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyFederation, keyFedMembers, councilID).Set(map[string]any{"since": t.at})
	})
}

// RemoveCouncil removes, in a federation's document, a member council (the
// members entry is deleted).
func RemoveCouncil(doc *automerge.Doc, as Signer, councilID string, at time.Time) error {
	t, err := beginAs(doc, OpRemoveCouncil, as, at)
	if err != nil {
		return err
	}
	if err := t.federationLink(councilID, "council"); err != nil {
		return err
	}
	if !hasLink(t.view.Federation.Members, councilID) {
		return t.errorf(CodeNotFound, "council %q is not a member", councilID)
	}
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyFederation, keyFedMembers, councilID).Delete()
	})
}
