package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
)

// councilClient is the small HTTP client of `veche council`: it calls the
// council REST API of one relay.
type councilClient struct {
	base  string // e.g. http://localhost:8080, without a trailing slash
	token string // sent as Authorization: Bearer; "" for none
	http  *http.Client
}

// apiError is an error answer of the relay: its HTTP status and the API's
// {"error":{"code","message"}}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// relayError is a failure to talk to the relay at all.
type relayError struct {
	base string
	err  error
}

func (e *relayError) Error() string {
	return fmt.Sprintf("cannot reach the relay at %s (is `veche serve` running? set --relay or VECHE_RELAY): %v", e.base, e.err)
}

func (e *relayError) Unwrap() error { return e.err }

func newCouncilClient(relay, token string, hc *http.Client) (*councilClient, error) {
	u, err := url.Parse(relay)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--relay %q: want a URL like http://localhost:8080", relay)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &councilClient{base: strings.TrimRight(relay, "/"), token: token, http: hc}, nil
}

// call sends body as JSON (nil: no body) with the client's token and
// returns the raw answer of a 2xx status, or an *apiError or *relayError.
func (c *councilClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	if c.token == "" && strings.HasPrefix(path, "/api/councils/") {
		return nil, usagef("who are you? Pass --token TOKEN or export VECHE_TOKEN=<token> (printed by 'veche council create' and 'veche council accept')")
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &relayError{base: c.base, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &relayError{base: c.base, err: err}
	}
	if resp.StatusCode/100 == 2 {
		return raw, nil
	}
	var answer struct {
		Error *api.Error `json:"error"`
	}
	if json.Unmarshal(raw, &answer) != nil || answer.Error == nil {
		return nil, &apiError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
	}
	return nil, &apiError{Status: resp.StatusCode, Code: answer.Error.Code, Message: answer.Error.Message}
}

// councilPath is the API path of a council, with more segments.
func councilPath(council string, segments ...string) string {
	p := "/api/councils/" + url.PathEscape(council)
	for _, s := range segments {
		p += "/" + url.PathEscape(s)
	}
	return p
}
