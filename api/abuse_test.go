package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
)

// createCouncil founds a council with the operator token.
func (tr *testRelay) createCouncil(t *testing.T) api.CreateCouncilAnswer {
	t.Helper()
	body := map[string]any{"name": "Mill workers", "kind": "workers", "founder": map[string]any{"name": "Ana", "role": "worker"}}
	status, _, raw := httpCall(t, tr.ts.URL, tr.operator, "POST", "/api/councils", body)
	var ans api.CreateCouncilAnswer
	if status != http.StatusCreated || json.Unmarshal(raw, &ans) != nil {
		t.Fatalf("create council: %d %s", status, raw)
	}
	return ans
}

// TestTokenRateLimit: one token over its request rate gets 429 with
// Retry-After; another token, from the same address, is served.
func TestTokenRateLimit(t *testing.T) {
	tr := newTestRelay(t, api.Options{TokenRequestsPerSecond: 1}) // a burst of 5
	a, b := tr.createCouncil(t), tr.createCouncil(t)
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		status, header, raw := httpCall(t, tr.ts.URL, a.Token, "GET", "/api/councils/"+a.ID, nil)
		switch status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			if !strings.Contains(string(raw), "this token") || header.Get("Retry-After") == "" {
				t.Fatalf("429 without a reason: %s %v", raw, header)
			}
			limited = true
		default:
			t.Fatalf("request %d: %d %s", i, status, raw)
		}
	}
	if !limited {
		t.Fatal("10 requests at once from one token were all served at 1 per second")
	}
	if status, _, raw := httpCall(t, tr.ts.URL, b.Token, "GET", "/api/councils/"+b.ID, nil); status != http.StatusOK {
		t.Fatalf("another token: %d %s", status, raw)
	}
}

// TestTrustedProxy: behind a trusted proxy, limits per address count the
// client X-Forwarded-For names, so one client's bad tokens do not make the
// others' bad tokens 429; without --trusted-proxy the header is ignored.
func TestTrustedProxy(t *testing.T) {
	bad := func(tr *testRelay, client string) int {
		req, _ := http.NewRequest("POST", tr.ts.URL+"/api/tokens/revoke", nil)
		req.Header.Set("Authorization", "Bearer vt_guess")
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	proxied := newTestRelay(t, api.Options{AuthFailuresPerMinute: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for i := 0; i < 3; i++ {
		bad(proxied, "203.0.113.7")
	}
	if s := bad(proxied, "203.0.113.7"); s != http.StatusTooManyRequests {
		t.Fatalf("the guessing client: %d", s)
	}
	if s := bad(proxied, "198.51.100.9"); s != http.StatusUnauthorized {
		t.Fatalf("another client behind the proxy: %d", s)
	}
	// Not trusted: the header is a client's invention, the TCP peer counts.
	direct := newTestRelay(t, api.Options{AuthFailuresPerMinute: 2})
	for i := 0; i < 3; i++ {
		bad(direct, fmt.Sprintf("203.0.113.%d", i))
	}
	if s := bad(direct, "198.51.100.9"); s != http.StatusTooManyRequests {
		t.Fatalf("an invented X-Forwarded-For dodged the limit: %d", s)
	}
}

// TestConnectionCaps: a token over its cap of open sync connections gets
// 429 with a clear reason before the upgrade; another member is served;
// closing one frees a place.
func TestConnectionCaps(t *testing.T) {
	tr := newTestRelay(t, api.Options{MaxConnectionsPerToken: 2, MaxConnectionsPerAddress: 3})
	a, b := tr.createCouncil(t), tr.createCouncil(t)
	open := func(token string) (*websocket.Conn, *http.Response, error) {
		return websocket.DefaultDialer.Dial(wsURL(tr.ts)+"?token="+token, nil)
	}
	var held []*websocket.Conn
	for i := 0; i < 2; i++ {
		ws, _, err := open(a.Token)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ws)
	}
	_, resp, err := open(a.Token)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection of one token: %v %v", resp, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), "too many open sync connections for this token") {
		t.Fatalf("no clear reason: %s", raw)
	}
	ws, _, err := open(b.Token)
	if err != nil {
		t.Fatalf("another member: %v", err)
	}
	held = append(held, ws)
	// The address is full now (3).
	if _, resp, err := open(b.Token); err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth connection from one address: %v", err)
	}
	held[0].Close()
	waitFor(t, "a place to free up", func() bool {
		ws, _, err := open(a.Token)
		if err == nil {
			ws.Close()
		}
		return err == nil
	})
	for _, ws := range held[1:] {
		ws.Close()
	}
}

// TestSlowBodyIsCut: a body dribbled slower than the minimal rate is cut
// with 408 once it falls behind; one that keeps up the rate, however slow
// otherwise, is read whole.
func TestSlowBodyIsCut(t *testing.T) {
	tr := newTestRelay(t, api.Options{BodyMinRate: 1000, BodyGrace: time.Second})
	addr := strings.TrimPrefix(tr.ts.URL, "http://")
	post := func(body string, every time.Duration, chunk int) (int, time.Duration) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /api/invites/accept HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		go func() {
			for i := 0; i < len(body); i += chunk {
				if _, err := conn.Write([]byte(body[i:min(i+chunk, len(body))])); err != nil {
					return
				}
				time.Sleep(every)
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	// One byte every 400 ms: behind the allowance after about a second.
	if status, took := post(strings.Repeat(" ", 100), 400*time.Millisecond, 1); status != http.StatusRequestTimeout || took > 5*time.Second {
		t.Fatalf("dribbled body: %d after %s", status, took)
	}
	// 3 KB at 1.5 KB/s (the minimum is 1 KB/s): read whole, then judged
	// (no invite code in it: 400, not 408).
	if status, took := post(strings.Repeat(" ", 3000)+"{}", 100*time.Millisecond, 150); status != http.StatusBadRequest || took < time.Second {
		t.Fatalf("slow but steady body: %d after %s", status, took)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
