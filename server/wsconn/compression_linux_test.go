package wsconn_test

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/veche-sync/veche/server/wsconn"
)

// thinSocket gives a socket the segment size and buffers of a real slow
// path (as interop/linksim does): on loopback a segment can be 64 KiB, and
// a reader with a small buffer then opens its window so rarely that the
// writer seems stuck.
func thinSocket(network, address string, c syscall.RawConn) error {
	var err error
	c.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.IPPROTO_TCP, unix.TCP_MAXSEG}, {unix.SOL_SOCKET, unix.SO_RCVBUF}, {unix.SOL_SOCKET, unix.SO_SNDBUF}} {
			v := 4 << 10
			if o[1] == unix.TCP_MAXSEG {
				v = 1400
			}
			if err = unix.SetsockoptInt(int(fd), o[0], o[1], v); err != nil {
				return
			}
		}
	})
	return err
}

func slowListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{Control: thinSocket}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// dialSlowCompressing dials url over a thin socket, offering compression.
func dialSlowCompressing(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{EnableCompression: true, NetDialContext: (&net.Dialer{Control: thinSocket}).DialContext}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// TestCompressedBurstToSlowReader: a compressed frame leaves the
// compressor in bursts of up to 64 KiB, each written to the socket at
// once; over a slow link a burst takes longer than WriteTimeout, and the
// write must still hold, since bytes keep leaving.
func TestCompressedBurstToSlowReader(t *testing.T) {
	frame := make([]byte, 160<<10)
	rand.New(rand.NewSource(1)).Read(frame) // incompressible: bursts as large as they come
	// A write may make no progress for 1.5 s (long enough for a loaded CI
	// machine's scheduler), and the reader takes 1 KiB every 30 ms: a
	// 64 KiB burst takes about 1.9 s, longer than that.
	opts := wsconn.Options{PingInterval: 500 * time.Millisecond, PongTimeout: time.Second, WriteTimeout: 1500 * time.Millisecond}
	url, send, wrote := serveFrames(t, opts, slowListener(t))
	ws := dialSlowCompressing(t, url)
	send <- frame
	start := time.Now()
	_, r, err := ws.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 1024)
	for {
		time.Sleep(30 * time.Millisecond) // a 64 KiB burst takes longer than WriteTimeout
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes, %v: %v (write: %v)", got.Len(), time.Since(start), err, <-wrote)
		}
	}
	if !bytes.Equal(got.Bytes(), frame) {
		t.Fatalf("received %d bytes, not the frame", got.Len())
	}
	if err := <-wrote; err != nil {
		t.Fatalf("a compressed frame to a slow but live reader failed after %v: %v", time.Since(start), err)
	}
}
