package crdt_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// automergeDoc shortens generic instantiations in tests.
type automergeDoc = automerge.Doc

// errorsIs is errors.Is.
func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestErrors(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	err := crdt.Leave(doc, as(doc, "zoe"), at(1))
	if !errors.Is(err, crdt.ErrUnknownMember) || errors.Is(err, crdt.ErrMemberLeft) {
		t.Errorf("errors.Is mismatch for %v", err)
	}
	if crdt.ErrorCode(err) != crdt.CodeUnknownMember {
		t.Errorf("code = %q", crdt.ErrorCode(err))
	}
	wrapped := fmt.Errorf("api: %w", err)
	if !errors.Is(wrapped, crdt.ErrUnknownMember) || crdt.ErrorCode(wrapped) != crdt.CodeUnknownMember {
		t.Errorf("wrapped error lost its code: %v", wrapped)
	}
	if got, want := err.Error(), `crdt: leave: unknown-member: no member "zoe"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if crdt.ErrorCode(errors.New("other")) != "" || crdt.ErrorCode(nil) != "" {
		t.Error("ErrorCode of a foreign error")
	}
	inner := errors.New("boom")
	e := &crdt.Error{Code: crdt.CodeMalformed, Op: crdt.OpVote, Message: "cannot write", Err: inner}
	if !errors.Is(e, inner) || !errors.Is(e, crdt.ErrMalformed) || e.Error() != "crdt: vote: malformed: cannot write: boom" {
		t.Errorf("malformed error: %v", e)
	}
}

// TestMalformedWriteChangesNothing makes the write itself fail, after
// validation passed, and checks the document is untouched.
func TestMalformedWriteChangesNothing(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	pid := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "Fence", Body: "Mend it", ClosesAt: at(60)}, at(1)))
	rawSet(t, doc, "not a map", "proposals", pid, "votes")
	refused(t, doc, crdt.ErrMalformed, func() error { return crdt.CastVote(doc, as(doc, "ben"), pid, crdt.Yes, at(2)) })

	rawSet(t, doc, "a plain string body", "proposals", pid, "body")
	refused(t, doc, crdt.ErrMalformed, func() error {
		return crdt.EditProposal(doc, as(doc, "ben"), pid, crdt.TextEdit{Pos: 0, Insert: "x"}, at(3))
	})

	rawSet(t, doc, []any{}, "members")
	// The members map replaced by a list: ana is still a member (the log
	// says so), and the write into the list fails.
	refused(t, doc, crdt.ErrMalformed, func() error { return crdt.Leave(doc, as(doc, "ana"), at(4)) })
}
