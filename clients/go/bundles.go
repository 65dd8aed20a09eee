package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wire"
)

// ExportBundle returns a council's changes the receiver lacks as a
// .bundle file (package server/bundle documents the format): those not
// in the history of since, the heads the receiver holds (all, without).
func (c *Client) ExportBundle(ctx context.Context, council string, since []string) ([]byte, error) {
	path := councilPath(council, "bundle")
	if len(since) > 0 {
		path += "?since=" + url.QueryEscape(strings.Join(since, ","))
	}
	var out []byte
	err := c.doRaw(ctx, http.MethodGet, path, "", nil, func(raw []byte) error {
		out = raw
		return nil
	})
	return out, err
}

// ImportBundle hands a .bundle file to the relay, which takes it in with
// the same grants as sync: the client's token must be allowed to write
// the bundle's council, or it is refused whole.
func (c *Client) ImportBundle(ctx context.Context, raw []byte) (*api.BundleAnswer, error) {
	var ans api.BundleAnswer
	err := c.doRaw(ctx, http.MethodPost, "/api/bundles", bundle.ContentType, bytes.NewReader(raw), func(body []byte) error {
		if err := json.Unmarshal(body, &ans); err != nil {
			return &Error{Code: CodeBadAnswer, Message: fmt.Sprintf("the relay's answer to a bundle is not the API's: %v", err), Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ans, nil
}

// ReadBundle reads a .bundle file and checks its header, length and
// checksum. A damaged file is an *Error with CodeBadBundle.
func ReadBundle(raw []byte) (*bundle.Bundle, error) {
	b, err := bundle.Read(bytes.NewReader(raw), 0)
	if err != nil {
		return nil, bundleError(err)
	}
	return b, nil
}

// bundleError gives a bundle's error its code.
func bundleError(err error) error {
	code := api.CodeInternal
	switch {
	case errors.Is(err, bundle.ErrOutOfOrder):
		code = api.CodeBundleOutOfOrder
	case errors.Is(err, bundle.ErrForeign):
		code = api.CodeBundleForeign
	case errors.Is(err, bundle.ErrTooLarge):
		code = api.CodeTooLarge
	case errors.Is(err, bundle.ErrMalformed), errors.Is(err, bundle.ErrTruncated), errors.Is(err, bundle.ErrDamaged):
		code = api.CodeBadBundle
	}
	return &Error{Code: code, Message: err.Error(), Status: api.StatusOf(code), Err: err}
}

// ExportBundle returns the replica's changes of council not in the
// history of since (all, without) as a .bundle file, with no network.
func (r *Replica) ExportBundle(ctx context.Context, council string, since []string) ([]byte, error) {
	hs, err := bundle.ParseHeads(since)
	if err != nil {
		return nil, errorf(CodeUsage, "since: %v", err)
	}
	var out []byte
	err = r.relay.View(ctx, wire.DocumentID(council), func(doc *automerge.Doc) error {
		b, err := bundle.Export(wire.DocumentID(council), doc, hs, time.Now())
		if err != nil {
			return err
		}
		out = b.Bytes()
		return nil
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return nil, errorf(CodeOffline, "the replica does not hold council %s", council)
	}
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	return out, nil
}

// ImportBundle takes a .bundle file into the replica, with no network: a
// council it does not hold yet is made from it. The changes reach the
// relays at the next sync.
func (r *Replica) ImportBundle(ctx context.Context, raw []byte) (*api.BundleAnswer, error) {
	b, err := bundle.Read(bytes.NewReader(raw), 0)
	if err != nil {
		return nil, bundleError(err)
	}
	ans := &api.BundleAnswer{Council: string(b.Council), Count: b.Count}
	err = r.relay.Adopt(ctx, b.Council, func(doc *automerge.Doc) error {
		n, err := b.Apply(doc)
		if err != nil {
			return err
		}
		ans.Applied = n
		ans.Heads = hexHeads(doc.Heads())
		return nil
	})
	if errors.Is(err, server.ErrDocumentNotFound) && b.Count == 0 {
		return nil, errorf(CodeOffline, "the bundle is empty and the replica does not hold council %s", b.Council)
	}
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		if errors.Is(err, bundle.ErrMalformed) || errors.Is(err, bundle.ErrDamaged) || errors.Is(err, bundle.ErrOutOfOrder) || errors.Is(err, bundle.ErrForeign) || errors.Is(err, bundle.ErrTruncated) {
			return nil, bundleError(err)
		}
		return nil, &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	if ans.Applied == 0 {
		ans.Heads, _ = r.Holds(ctx, string(b.Council))
	}
	return ans, nil
}
