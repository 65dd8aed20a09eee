package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
)

func TestMainServesAndRefusesSecondRelayOnSameData(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VECHE_DATA", dir)
	t.Setenv("VECHE_LOG_LEVEL", "warn")
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if m.DataDir != dir {
		t.Fatalf("VECHE_DATA not read: %q", m.DataDir)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	resp, err := http.Get("http://" + m.ListenAddr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	second := NewMain()
	second.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", dir})
	start := time.Now()
	err = second.Run(context.Background())
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second relay on the same data dir: %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("second relay took %v to fail", time.Since(start))
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Setenv("VECHE_ADDR", ":9999")
	t.Setenv("VECHE_ANONYMOUS", "false")
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.Addr != ":9999" || m.Anonymous {
		t.Fatalf("env not applied: %+v", m)
	}
	if err := m.ParseFlags([]string{"--addr", ":7000"}); err != nil {
		t.Fatal(err)
	}
	if m.Addr != ":7000" {
		t.Fatalf("flag did not win: %q", m.Addr)
	}
	t.Setenv("VECHE_ANONYMOUS", "maybe")
	if err := NewMain().ParseFlags(nil); err == nil {
		t.Fatal("bad VECHE_ANONYMOUS accepted")
	}
}

func TestDefaults(t *testing.T) {
	m := NewMain()
	if m.Addr != ":8080" || m.DataDir != "./veche-data" {
		t.Fatalf("defaults %q %q", m.Addr, m.DataDir)
	}
}

func TestKeepaliveAndSyncIntervalFlags(t *testing.T) {
	t.Setenv("VECHE_KEEPALIVE", "45s")
	m := NewMain()
	if err := m.ParseFlags([]string{"--sync-interval", "1s"}); err != nil {
		t.Fatal(err)
	}
	if m.Keepalive != 45*time.Second || m.SyncInterval != time.Second {
		t.Fatalf("keepalive %v, sync interval %v", m.Keepalive, m.SyncInterval)
	}
	if m.MinSyncInterval != server.DefaultMinSyncInterval {
		t.Fatalf("min sync interval %v, want the default %v", m.MinSyncInterval, server.DefaultMinSyncInterval)
	}
	t.Setenv("VECHE_MIN_SYNC_INTERVAL", "100ms")
	m = NewMain()
	if err := m.ParseFlags(nil); err != nil || m.MinSyncInterval != 100*time.Millisecond {
		t.Fatalf("VECHE_MIN_SYNC_INTERVAL=100ms: %v, %v", m.MinSyncInterval, err)
	}
	if err := NewMain().ParseFlags([]string{"--min-sync-interval", "500ms"}); err != nil {
		t.Fatal(err)
	}
	if err := NewMain().ParseFlags([]string{"--min-sync-interval", "0s"}); err == nil {
		t.Fatal("a min sync interval of 0 was accepted")
	}
	if err := NewMain().ParseFlags([]string{"--keepalive", "10ms"}); err == nil {
		t.Fatal("a keepalive under 1s was accepted")
	}
	if NewMain().Keepalive < 30*time.Second {
		t.Fatal("default keepalive tighter than 30s")
	}
}

func TestLimitFlags(t *testing.T) {
	t.Setenv("VECHE_MAX_MESSAGES_PER_SECOND", "50")
	m := NewMain()
	if err := m.ParseFlags([]string{"--max-document-bytes", "1048576", "--max-frame-bytes", "65536"}); err != nil {
		t.Fatal(err)
	}
	if m.Limits.MaxMessagesPerSecond != 50 || m.Limits.MaxDocumentBytes != 1<<20 || m.Limits.MaxFrameBytes != 64<<10 || m.Limits.MaxDocumentsPerConnection != 4096 {
		t.Fatalf("limits %+v", m.Limits)
	}
	if err := NewMain().ParseFlags([]string{"--max-documents-per-connection", "0"}); err == nil {
		t.Fatal("a zero limit was accepted")
	}
	if m.Limits.MaxMessageBytes != 128<<10 {
		t.Fatalf("default --max-message-bytes %d, want 128 KiB", m.Limits.MaxMessageBytes)
	}
	t.Setenv("VECHE_MAX_MESSAGE_BYTES", "16384")
	if m = NewMain(); m.ParseFlags(nil) != nil || m.Limits.MaxMessageBytes != 16<<10 {
		t.Fatalf("VECHE_MAX_MESSAGE_BYTES=16384 gave %d", m.Limits.MaxMessageBytes)
	}
	if err := NewMain().ParseFlags([]string{"--max-message-bytes", "100"}); err == nil {
		t.Fatal("a 100-byte message limit was accepted")
	}
}
