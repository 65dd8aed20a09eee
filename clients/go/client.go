package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one request of a Client made by New.
const DefaultTimeout = 60 * time.Second

// maxAnswer bounds how much of an answer a Client reads.
const maxAnswer = 64 << 20

// Client calls the council REST API of one relay as one principal: the
// one its token names. Its methods take and return the api package's
// request and answer types, so a field renamed in the API breaks the
// build of every caller, not a user. Every error is an *Error.
//
// A Client is safe for concurrent use.
type Client struct {
	base  string // e.g. http://localhost:8080, no trailing slash
	token string
	http  *http.Client
}

// New returns a client of the relay at relayURL (http or https), acting
// with token ("" for none: accepting an invite, or creating a council on
// a relay with open registration). hc may be nil: a client with
// DefaultTimeout.
func New(relayURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(relayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errorf(CodeUsage, "relay URL %q: want a URL like http://localhost:8080", relayURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimRight(relayURL, "/"), token: token, http: hc}, nil
}

// Relay returns the relay's base URL.
func (c *Client) Relay() string { return c.base }

// Token returns the token the client acts with.
func (c *Client) Token() string { return c.token }

// WithToken returns a client of the same relay acting with token.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// do sends a request with body as JSON (nil: none) and decodes a 2xx
// answer into out (nil: discard it).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{Code: CodeInternal, Message: "encoding the request", Err: err}
		}
		r = bytes.NewReader(b)
	}
	return c.doRaw(ctx, method, path, "application/json", r, func(raw []byte) error {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Code: CodeBadAnswer, Message: fmt.Sprintf("the relay's answer to %s %s is not what the API answers: %v", method, path, err), Err: err}
		}
		return nil
	})
}

// doRaw sends a request with a body of contentType (body nil: none) and
// hands a 2xx answer's bytes to ok.
func (c *Client) doRaw(ctx context.Context, method, path, contentType string, body io.Reader, ok func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return &Error{Code: CodeUsage, Message: err.Error(), Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return c.unreachable(err)
	}
	if resp.StatusCode/100 == 2 {
		return ok(raw)
	}
	return parseResponseError(resp.StatusCode, raw)
}

func (c *Client) unreachable(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e // from a transport that speaks our errors (the replica's)
	}
	return &Error{Code: CodeUnreachable, Message: fmt.Sprintf("cannot reach the relay at %s: %v", c.base, err), Err: err}
}

// parseResponseError reads the API's {"error":{"code","message"}} answer.
func parseResponseError(status int, raw []byte) *Error {
	var answer struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &answer) != nil || answer.Error == nil || answer.Error.Code == "" {
		return answerError(status, "", strings.TrimSpace(string(raw)))
	}
	return answerError(status, answer.Error.Code, answer.Error.Message)
}

// councilPath is the API path of a council, with more segments, each
// escaped.
func councilPath(council string, segments ...string) string {
	p := "/api/councils/" + url.PathEscape(council)
	for _, s := range segments {
		p += "/" + url.PathEscape(s)
	}
	return p
}
