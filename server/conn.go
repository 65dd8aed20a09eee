package server

import (
	"context"
	"errors"
)

// Conn is one established, message-oriented connection to a peer: a
// websocket in production, an in-memory pipe in tests. The relay reads from
// a Conn on one goroutine at a time and writes to it on another; Close may
// be called from any goroutine, any number of times.
type Conn interface {
	// ReadFrame blocks until the next binary frame arrives. It returns
	// ErrTextFrame for a text frame, an error wrapping ErrFrameTooLarge for
	// a frame over the transport's limit, and any other error once the
	// connection is unusable.
	ReadFrame(ctx context.Context) ([]byte, error)
	// WriteFrame sends one binary frame. It must not block forever: a
	// transport bounds it with a write deadline.
	WriteFrame(ctx context.Context, frame []byte) error
	// Close ends the connection, telling the peer why where the transport
	// can (a websocket close frame).
	Close(reason string) error
	// RemoteAddr names the other end for logs.
	RemoteAddr() string
}

// BulkWriter is implemented by a Conn that can compress a frame whatever
// its size. The relay writes slices of a transfer with it: on a link that
// drops every few seconds slices are small (linkfit.go), and a council's
// small changes, sent one by one, shrink by a third or more compressed.
type BulkWriter interface {
	// WriteBulkFrame is WriteFrame, compressed where the peer agreed to
	// compression, even below the size from which other frames are.
	WriteBulkFrame(ctx context.Context, frame []byte) error
}

// ReadNotifier is implemented by a Conn that can call back when input
// arrives, without a goroutine waiting for it. The relay reads each burst
// of messages on a goroutine of its own and, once nothing more waits, asks
// to be called back and lets that goroutine end: an idle connection holds
// no goroutine at all (issue 11).
type ReadNotifier interface {
	// NotifyReadable arranges for f to be called once, on a goroutine of
	// its own, when input has arrived, the connection failed or was
	// closed, or its read deadline passed. It reports false where it
	// cannot; the caller then reads on, blocking.
	NotifyReadable(f func()) bool
	// Readable reports, without waiting for the peer, whether ReadFrame
	// has something to do: input is waiting, or the connection has ended.
	Readable() bool
}

// Errors a Conn reports for frames the protocol forbids.
var (
	// ErrTextFrame is returned by ReadFrame for a text frame: the protocol
	// carries only binary CBOR frames.
	ErrTextFrame = errors.New("text frames are not part of the protocol")
	// ErrFrameTooLarge is returned by ReadFrame for a frame over the limit.
	ErrFrameTooLarge = errors.New("frame too large")
)
