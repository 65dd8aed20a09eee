package linksim_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/veche-sync/veche/interop/linksim"
)

// sink accepts connections, sends each one size bytes, and reports what
// it read from each.
func sink(t *testing.T, size int) (addr string, got chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				payload := bytes.Repeat([]byte("council"), size/7+1)[:size]
				c.Write(payload)
				b, _ := io.ReadAll(c)
				got <- b
			}()
		}
	}()
	return ln.Addr().String(), got
}

func TestBandwidthAndDelay(t *testing.T) {
	addr, _ := sink(t, 10_000)
	l, err := linksim.Listen(addr, linksim.Profile{Bandwidth: 200_000, Delay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 10_000)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// 10,000 bytes at 200 kbit/s is 400 ms, plus 100 ms of delay.
	if took < 450*time.Millisecond || took > 2*time.Second {
		t.Fatalf("10 KB over 200 kbit/s and 100 ms took %v, want about 500 ms", took)
	}
	if down, _ := l.Bytes(); down != 10_000 {
		t.Fatalf("counted %d bytes down, want 10000", down)
	}
}

func TestCutMidStreamAndOffline(t *testing.T) {
	addr, _ := sink(t, 50_000)
	l, err := linksim.Listen(addr, linksim.Profile{Bandwidth: 4_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.CutAt(20_000)
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if len(b) != 20_000 {
		t.Fatalf("read %d bytes before the cut, want exactly 20000", len(b))
	}
	l.SetOffline(true)
	c, err = net.Dial("tcp", l.Addr())
	if err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _ := c.Read(make([]byte, 10)); n != 0 {
			t.Fatal("an offline link delivered bytes")
		}
		c.Close()
	}
	l.SetOffline(false)
	c, err = net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 50_000)); err != nil {
		t.Fatalf("link back online: %v", err)
	}
}

func TestLossStalls(t *testing.T) {
	addr, _ := sink(t, 20_000)
	l, err := linksim.Listen(addr, linksim.Profile{Loss: 0.5, Stall: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	c, _ := net.Dial("tcp", l.Addr())
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 20_000)); err != nil {
		t.Fatal(err)
	}
	// About 40 segments, half of them stalled 50 ms.
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("lossy link delivered in %v: no stalls", took)
	}
}
