package server

import (
	"context"
	"errors"
	"sync"
)

// pipeConn is one end of an in-memory connection, for tests.
type pipeConn struct {
	name string
	in   <-chan []byte
	out  chan<- []byte

	mu     sync.Mutex // guards the following
	closed bool
	reason string

	done     chan struct{}
	peerDone chan struct{}
}

// newPipe returns two connected ends.
func newPipe() (a, b *pipeConn) { return newPipeSized(4096) }

// newPipeSized returns two connected ends; b can write n frames that a has
// not read before its writes block.
func newPipeSized(n int) (a, b *pipeConn) {
	ab := make(chan []byte, 4096)
	ba := make(chan []byte, n)
	da, db := make(chan struct{}), make(chan struct{})
	a = &pipeConn{name: "a", in: ba, out: ab, done: da, peerDone: db}
	b = &pipeConn{name: "b", in: ab, out: ba, done: db, peerDone: da}
	return a, b
}

var errPipeClosed = errors.New("pipe closed")

func (c *pipeConn) ReadFrame(ctx context.Context) ([]byte, error) {
	select {
	case f := <-c.in:
		return f, nil
	default:
	}
	select {
	case f := <-c.in:
		return f, nil
	case <-c.done:
		return nil, errPipeClosed
	case <-c.peerDone:
		// drain what the peer wrote before closing
		select {
		case f := <-c.in:
			return f, nil
		default:
			return nil, errPipeClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *pipeConn) WriteFrame(ctx context.Context, frame []byte) error {
	select {
	case <-c.done:
		return errPipeClosed
	case <-c.peerDone:
		return errPipeClosed
	default:
	}
	select {
	case c.out <- frame:
		return nil
	case <-c.done:
		return errPipeClosed
	case <-c.peerDone:
		return errPipeClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *pipeConn) Close(reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.reason = reason
		close(c.done)
	}
	return nil
}

func (c *pipeConn) isClosed() bool {
	select {
	case <-c.done:
		return true
	case <-c.peerDone:
		return true
	default:
		return false
	}
}

func (c *pipeConn) RemoteAddr() string { return "pipe-" + c.name }
