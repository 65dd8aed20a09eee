package server

import (
	"context"
	"errors"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

func TestLocalCreateChangeViewReachPeers(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{})
	ctx := context.Background()
	id, err := r.Create(ctx, func(d *automerge.Doc) error {
		if err := d.RootMap().Set("name", "Upper valley farmers"); err != nil {
			return err
		}
		_, err := d.Commit("create")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Durable when Create returns.
	if m, err := st.Meta(ctx, string(id)); err != nil || len(m.Heads) != 1 {
		t.Fatalf("created document not stored: %+v %v", m, err)
	}
	p := connect(t, r, "phone", nil)
	p.find(id)
	p.waitValue(id, "name", "Upper valley farmers")

	if err := r.Change(ctx, id, func(d *automerge.Doc) error {
		d.RootMap().Set("region", "north")
		_, err := d.Commit("region")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p.waitValue(id, "region", "north")

	// A failing change leaves the document untouched.
	boom := errors.New("invalid")
	err = r.Change(ctx, id, func(d *automerge.Doc) error {
		d.RootMap().Set("region", "south")
		d.Commit("bad")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Change returned %v", err)
	}
	var region string
	r.View(ctx, id, func(d *automerge.Doc) error {
		v, _ := d.Path("region").Get()
		region = v.Str()
		return nil
	})
	if region != "north" {
		t.Fatalf("failed change leaked: region %q", region)
	}
	// The peer's edit is visible to View.
	p.change(id, "from-phone", "hello")
	waitStored(t, r, p, id)
	var got string
	r.View(ctx, id, func(d *automerge.Doc) error {
		v, _ := d.Path("from-phone").Get()
		if v.Kind() == automerge.KindStr {
			got = v.Str()
		}
		return nil
	})
	if got != "hello" {
		t.Fatalf("View does not see the peer's edit: %q", got)
	}
}

func TestLocalUnknownDocument(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	err := r.View(context.Background(), wire.NewDocumentID(), func(*automerge.Doc) error { return nil })
	if !errors.Is(err, ErrDocumentNotFound) {
		t.Fatalf("View of unknown document: %v", err)
	}
	err = r.Change(context.Background(), "bogus", func(*automerge.Doc) error { return nil })
	if !errors.Is(err, ErrDocumentNotFound) {
		t.Fatalf("Change of malformed id: %v", err)
	}
}
