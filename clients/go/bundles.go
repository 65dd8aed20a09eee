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

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/bundle"
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
