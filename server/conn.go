package server

import (
	"context"
	"errors"
)

// Conn is one established, message-oriented connection to a peer: a
// websocket in production, an in-memory pipe in tests. The relay reads from
// a Conn on one goroutine and writes to it on another; Close may be called
// from any goroutine, any number of times.
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

// ReadWaiter is implemented by a Conn that can wait for the next frame to
// begin arriving without reading it. The read loop waits there between
// bursts of messages and reads them on a goroutine of their own, so that
// an idle connection parks one goroutine with a minimal stack instead of
// one grown by a frame reader and the handling of messages.
type ReadWaiter interface {
	// WaitReadable blocks until input has arrived, the connection failed
	// or its read deadline passed. It may return early; ReadFrame then
	// blocks as usual.
	WaitReadable()
	// Readable reports, without blocking, whether input is waiting (or
	// the connection has ended): whether ReadFrame would return soon.
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
