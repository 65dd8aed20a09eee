package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestQuarantineFindsTheRelayByItself: on the relay's machine, `veche
// quarantine list --data DIR` reaches the relay running on DIR where it
// says it listens (relay.json), over TLS trusting the certificate it
// serves, as `veche backup` does: the relay of "Run a relay" listens on
// 443 with its own certificate, not on http://localhost:8080.
func TestQuarantineFindsTheRelayByItself(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	for name, args := range map[string][]string{"http": nil, "tls": {"--tls-cert", certFile, "--tls-key", keyFile}} {
		t.Run(name, func(t *testing.T) {
			m, _ := startMain(t, args...)
			var out, errOut bytes.Buffer
			getenv := func(string) string { return "" }
			code := runQuarantine(context.Background(), []string{"list", "--data", m.DataDir}, &out, &errOut, getenv)
			if code != exitOK || !strings.Contains(out.String(), "no incidents") {
				t.Fatalf("veche quarantine list --data: exit %d\n%s%s", code, out.String(), errOut.String())
			}
		})
	}
}
