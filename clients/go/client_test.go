package client_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

func TestErrorsCarryTheAPICodeAndStatus(t *testing.T) {
	relay := startRelay(t.TempDir())
	defer relay.Close()
	ctx := t.Context()
	operator, err := client.New(relay.URL, relay.Operator, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := operator.CreateCouncil(ctx, api.CreateCouncilRequest{Name: "Mill", Kind: crdt.KindWorkers, Founder: &api.MemberRequest{Name: "Ana", Role: crdt.RoleWorker}})
	if err != nil {
		t.Fatal(err)
	}
	ana := operator.WithToken(created.Token)
	for name, c := range map[string]struct {
		err    error
		code   string
		status int
	}{
		"the operator reads no council": {must(operator.Council(ctx, created.ID)), api.CodeNotFound, 404},
		"a stolen token":                {must(ana.WithToken("vt_stolen").Council(ctx, created.ID)), api.CodeUnauthenticated, 401},
		"an unknown proposal":           {must(ana.Vote(ctx, created.ID, "nope", api.VoteRequest{Choice: crdt.Yes})), api.CodeNotFound, 404},
		"a bad choice":                  {must(ana.Vote(ctx, created.ID, "nope", api.VoteRequest{Choice: "maybe"})), api.CodeInvalidArgument, 400},
		"a member creates no council":   {must(ana.CreateCouncil(ctx, api.CreateCouncilRequest{Name: "x", Kind: crdt.KindWorkers, Founder: &api.MemberRequest{Name: "X"}})), api.CodeForbidden, 403},
		"a bad invite":                  {must(ana.WithToken("").AcceptInvite(ctx, api.AcceptInviteRequest{Code: "vi_nope", Name: "Eve"})), api.CodeInviteInvalid, 401},
	} {
		var e *client.Error
		if !errors.As(c.err, &e) || e.Code != c.code || e.Status != c.status || e.Message == "" {
			t.Errorf("%s: got %#v, want code %s status %d", name, c.err, c.code, c.status)
		}
	}
	// Success decodes the typed answer.
	v, err := ana.Council(ctx, created.ID)
	if err != nil || v.Council.Name != "Mill" || len(v.Members) != 1 || v.ID != created.ID || len(v.Heads) == 0 {
		t.Fatalf("Council: %+v, %v", v, err)
	}
}

func must[T any](_ T, err error) error { return err }

func TestUnreachableAndForeignAnswers(t *testing.T) {
	// Nothing listens: unreachable, with the cause.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := client.New("http://"+addr, "vt_x", nil)
	_, err = c.Council(t.Context(), "x")
	if client.ErrorCode(err) != client.CodeUnreachable || !errors.As(err, new(*net.OpError)) {
		t.Fatalf("no relay: %v", err)
	}
	// A proxy's error page, or a 200 that is not the API's answer.
	for status, body := range map[int]string{502: "<html>Bad Gateway</html>", 200: "<html>hello</html>"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		c, _ := client.New(ts.URL, "vt_x", nil)
		_, err := c.Council(t.Context(), "x")
		var e *client.Error
		if !errors.As(err, &e) || e.Code != client.CodeBadAnswer {
			t.Errorf("status %d %q: %v", status, body, err)
		}
		ts.Close()
	}
	// A malformed relay URL is the caller's mistake.
	if _, err := client.New("localhost:8080", "", nil); client.ErrorCode(err) != client.CodeUsage {
		t.Fatalf("bad URL: %v", err)
	}
}
