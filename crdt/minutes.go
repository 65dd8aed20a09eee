package crdt

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/automerge/automerge-go"
)

// Minutes is an entry of the "minutes" list: the record of one meeting,
// with collaborative notes.
type Minutes struct {
	// ID identifies the entry (list positions shift under concurrent
	// inserts, so entries carry an id, an addition to the schema sketch).
	ID    string    `json:"id"`
	At    time.Time `json:"at"`
	Title string    `json:"title"`
	// Notes is the collaborative text (an Automerge Text) of the meeting.
	Notes string `json:"notes"`
	By    string `json:"by"`
}

// MinutesSpec describes the minutes of a meeting to start.
type MinutesSpec struct {
	ID    string // optional explicit id; random (NewID) if empty
	Title string // required
	Notes string // optional initial text
}

// StartMinutes appends the minutes of a meeting held at at, with notes as
// an Automerge Text, and returns their id.
func StartMinutes(doc *automerge.Doc, as Signer, spec MinutesSpec, at time.Time) (string, error) {
	t, err := beginAs(doc, OpStartMinutes, as, at)
	if err != nil {
		return "", err
	}
	if err := t.requireText(spec.Title, "minutes title"); err != nil {
		return "", err
	}
	if !utf8.ValidString(spec.Notes) {
		return "", t.errorf(CodeInvalid, "minutes notes are not valid UTF-8")
	}
	id, err := t.newID(spec.ID, "minutes", func(id string) bool { _, ok := t.view.minutes(id); return ok })
	if err != nil {
		return "", err
	}
	t.arg("minutes", id)
	t.arg("title", spec.Title)
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyMinutes).List().Append(map[string]any{
			"id":     id,
			"at":     t.at,
			"title":  spec.Title,
			keyNotes: automerge.NewText(spec.Notes),
			"by":     as.Member,
		})
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// EditMinutes splices the notes of the minutes with the given id. Any
// active member may edit; concurrent edits merge character by character.
func EditMinutes(doc *automerge.Doc, as Signer, minutesID string, edit TextEdit, at time.Time) error {
	t, err := beginAs(doc, OpEditMinutes, as, at)
	if err != nil {
		return err
	}
	t.unsigned = true // collaborative text: content, not a fact
	if _, ok := t.view.minutes(minutesID); !ok || !ValidID(minutesID) {
		return t.errorf(CodeNotFound, "no minutes %q", minutesID)
	}
	notes := ""
	if i, ok := minutesIndex(doc, minutesID); ok {
		notes = currentText(doc, keyMinutes, i, keyNotes)
	}
	if err := t.checkEdit(edit, notes); err != nil {
		return err
	}
	t.arg("minutes", minutesID)
	return t.commit(func(w *automerge.Doc) error {
		// Find the entry's position in the fork, which is the document as
		// validated.
		if i, ok := minutesIndex(w, minutesID); ok {
			return editText(w, edit, keyMinutes, i, keyNotes)
		}
		return fmt.Errorf("minutes %q vanished", minutesID)
	})
}

// minutesIndex returns the list position of the first minutes entry with
// the given id in doc's state.
func minutesIndex(doc *automerge.Doc, minutesID string) (int, bool) {
	values, err := doc.Path(keyMinutes).List().Values()
	if err != nil {
		return 0, false
	}
	for i, v := range values {
		if v.Kind() != automerge.KindMap {
			continue
		}
		id, err := v.Map().Get("id")
		if err != nil || isAbsent(id) {
			continue
		}
		if s, err := asString(id); err == nil && s == minutesID {
			return i, true
		}
	}
	return 0, false
}

// minutes returns the first minutes entry with the given id.
func (v *View) minutes(id string) (*Minutes, bool) {
	for i := range v.Minutes {
		if v.Minutes[i].ID == id {
			return &v.Minutes[i], true
		}
	}
	return nil, false
}
