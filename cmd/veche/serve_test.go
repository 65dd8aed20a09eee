package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// lockedBuffer collects a relay's logs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startMain runs a relay on a free loopback port with args, logging into
// the returned buffer.
func startMain(t *testing.T, args ...string) (*Main, *lockedBuffer) {
	t.Helper()
	m := NewMain()
	logs := &lockedBuffer{}
	m.logOutput = logs
	if err := m.ParseFlags(append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...)); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, logs
}

func operatorToken(t *testing.T, m *Main) string {
	t.Helper()
	b, err := os.ReadFile(m.OperatorTokenPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestRunCreatesTheOperatorToken(t *testing.T) {
	m, logs := startMain(t)
	if m.OperatorTokenPath != filepath.Join(m.DataDir, "operator.token") {
		t.Fatalf("operator token at %q", m.OperatorTokenPath)
	}
	fi, err := os.Stat(m.OperatorTokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator.token: %v %v", fi, err)
	}
	token := operatorToken(t, m)
	if !strings.Contains(logs.String(), m.OperatorTokenPath) || strings.Contains(logs.String(), token) {
		t.Fatalf("the log must name the file, never the token:\n%s", logs)
	}

	// The relay refuses anonymous sync by default, and takes the token.
	ws := "ws://" + m.ListenAddr() + "/sync"
	if _, resp, err := websocket.DefaultDialer.Dial(ws, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous dial: %v %v", resp, err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(ws+"?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the log holds the token:\n%s", logs)
	}

	// A restart keeps the token.
	dir := m.DataDir
	m.Close()
	again := NewMain()
	again.logOutput = &lockedBuffer{}
	if err := again.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", dir}); err != nil {
		t.Fatal(err)
	}
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if operatorToken(t, again) != token {
		t.Fatal("a restart replaced the operator token")
	}
}

func TestAuthFlags(t *testing.T) {
	m := NewMain()
	if m.Anonymous || m.OpenRegistration || m.AuthFailuresPerMinute != 20 {
		t.Fatalf("defaults: anonymous %v, open registration %v, failures %d", m.Anonymous, m.OpenRegistration, m.AuthFailuresPerMinute)
	}
	t.Setenv("VECHE_OPEN_REGISTRATION", "true")
	t.Setenv("VECHE_AUTH_FAILURES_PER_MINUTE", "5")
	if err := m.ParseFlags([]string{"--anonymous"}); err != nil {
		t.Fatal(err)
	}
	if !m.Anonymous || !m.OpenRegistration || m.AuthFailuresPerMinute != 5 {
		t.Fatalf("parsed: %+v", m)
	}
	for _, args := range [][]string{
		{"--auth-failures-per-minute", "0"},
		{"--tls-cert", "cert.pem"},
		{"--tls-key", "key.pem"},
	} {
		if err := NewMain().ParseFlags(args); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	m, _ := startMain(t, "--tls-cert", certFile, "--tls-key", keyFile)
	token := operatorToken(t, m)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := client.Get("https://" + m.ListenAddr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + m.ListenAddr() + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on a TLS relay")
	}

	req, _ := http.NewRequest("POST", "https://"+m.ListenAddr()+"/api/councils",
		strings.NewReader(`{"name":"Riverside growers","kind":"farmers","founder":{"name":"Ana","role":"small-farmer"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create over https: %v %v", resp, err)
	}
	var created struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	conn, resp, err := d.Dial("wss://"+m.ListenAddr()+"/sync", http.Header{"Authorization": {"Bearer " + created.Token}})
	if err != nil {
		t.Fatalf("wss dial: %v %v", resp, err)
	}
	conn.Close()
	if _, resp, err := d.Dial("wss://"+m.ListenAddr()+"/sync", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wss without a token: %v %v", resp, err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "veche test relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestAbuseFlags: the caps and the trusted proxies reach the HTTP surface
// from flags and the environment, and nonsense is refused.
func TestAbuseFlags(t *testing.T) {
	t.Setenv("VECHE_MAX_CONNECTIONS_PER_TOKEN", "3")
	m := NewMain()
	if err := m.ParseFlags([]string{"--max-connections-per-address", "7", "--token-requests-per-second", "9", "--trusted-proxy", "10.0.0.1/32, fd00::/8"}); err != nil {
		t.Fatal(err)
	}
	ps, err := m.trustedProxies()
	if err != nil || len(ps) != 2 || ps[1].String() != "fd00::/8" {
		t.Fatalf("trusted proxies %v, %v", ps, err)
	}
	if m.Limits.MaxConnectionsPerToken != 3 || m.Limits.MaxConnectionsPerAddress != 7 || m.Limits.TokenRequestsPerSecond != 9 {
		t.Fatalf("limits %+v", m.Limits)
	}
	for _, args := range [][]string{
		{"--trusted-proxy", "not-a-cidr"},
		{"--max-connections-per-token", "0"},
		{"--token-requests-per-second", "-1"},
	} {
		if err := NewMain().ParseFlags(args); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
}

// TestServeOpensItsStoreSyncing: the relay's store fsyncs every commit —
// no test of durability can see an unsynced store, short of pulling the
// plug, so this one looks.
func TestServeOpensItsStoreSyncing(t *testing.T) {
	m, _ := startMain(t)
	if !m.store.Syncing() {
		t.Fatal("veche serve opened its store without fsync")
	}
}
