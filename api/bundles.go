package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wire"
)

// Bundles are a council's changes carried by hand (package bundle
// defines the file). POST /api/bundles takes one in with the same grants
// as sync: the token must be allowed to write the bundle's council, or
// the bundle is refused whole; GET /api/councils/:id/bundle gives one out
// to whoever may read the council.

// BundleAnswer is the answer to POST /api/bundles.
type BundleAnswer struct {
	Council string `json:"council"` // the bundle's council
	// Count is how many changes the bundle carries; Applied how many of
	// them this relay lacked and now holds (0: it held them all; importing
	// a bundle twice is a no-op).
	Count   int `json:"count"`
	Applied int `json:"applied"`
	// Heads are the council's heads after the import.
	Heads []string `json:"heads"`
}

// importBundle serves POST /api/bundles: the body is a .bundle file. Its
// changes are checked against the council (out of order, foreign, damaged:
// refused whole, nothing changes), applied as one commit, durable before
// the answer, and synced to every connected peer like any change.
func (s *Server) importBundle(c echo.Context) error {
	r := c.Request()
	b, err := bundle.Read(http.MaxBytesReader(c.Response(), r.Body, s.opts.MaxBundleSize+1<<20), s.opts.MaxBundleSize)
	if err != nil {
		return err
	}
	p := principalOf(c)
	id := b.Council
	if !s.relay.CanRead(p, string(id)) {
		return noCouncil(string(id))
	}
	if !s.relay.CanWrite(p, string(id)) {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("your token may read council %s, not change it: the bundle is refused whole", id)}
	}
	answer := BundleAnswer{Council: string(id), Count: b.Count}
	// The bundle's changes come from the member's hands: they meet the
	// Automerge core in the sandbox first, as a sync message's do.
	err = s.relay.ChangeUntrustedAs(r.Context(), id, p, b.Payload(), func(doc *automerge.Doc) error {
		if p.Kind == server.KindMember && p.Council == string(id) {
			if view := s.readView(id, doc, time.Now()); !activeMember(view.View, p.Member) {
				return noCouncil(string(id))
			}
		}
		n, err := b.Apply(doc)
		if err != nil {
			return err
		}
		answer.Applied = n
		answer.Heads = hexHeads(doc.Heads())
		return nil
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return noCouncil(string(id))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// exportBundle serves GET /api/councils/:id/bundle?since=HEAD,HEAD: the
// council's changes not in the history of since (all, without since), as
// a .bundle file.
func (s *Server) exportBundle(c echo.Context) error {
	var since []automerge.ChangeHash
	if raw := c.QueryParam("since"); raw != "" {
		var err error
		if since, err = bundle.ParseHeads(strings.Split(raw, ",")); err != nil {
			return invalid("since: %v: want hex change hashes separated by commas (the heads the receiver holds)", err)
		}
	}
	var out []byte
	err := s.read(c, func(view CouncilView, doc *automerge.Doc) error {
		b, err := bundle.Export(wire.DocumentID(view.ID), doc, since, time.Now())
		if err != nil {
			return err
		}
		out = b.Bytes()
		return nil
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="council.bundle"`)
	return c.Blob(http.StatusOK, bundle.ContentType, out)
}

func hexHeads(heads []automerge.ChangeHash) []string {
	out := make([]string, len(heads))
	for i, h := range heads {
		out[i] = h.String()
	}
	return out
}
