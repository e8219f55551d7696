package wire

import (
	"context"
	"errors"
	"sync"
)

// Conn carries whole frames in both directions: a WebSocket connection in
// production, an in-memory pipe in tests. ReadFrame must not be called
// concurrently with itself; WriteFrame and Close are safe for concurrent use.
type Conn interface {
	ReadFrame(ctx context.Context) ([]byte, error)
	WriteFrame(ctx context.Context, frame []byte) error
	// Close ends the connection, telling the peer why.
	Close(reason string) error
}

// ErrClosed is returned by a Pipe end after either end is closed.
var ErrClosed = errors.New("wire: connection closed")

// CloseError is returned by a Pipe end whose peer closed it with a reason.
type CloseError struct{ Reason string }

func (e *CloseError) Error() string { return "wire: connection closed by peer: " + e.Reason }

// Is makes errors.Is(err, ErrClosed) hold for a CloseError.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// Pipe returns a connected pair of in-memory Conns: frames written to one
// are read from the other, in order. Each direction buffers up to 64 frames;
// writes beyond that block, as on a slow socket.
func Pipe() (Conn, Conn) {
	ab := make(chan []byte, 64)
	ba := make(chan []byte, 64)
	s := &pipeShared{done: make(chan struct{})}
	return &pipeEnd{in: ba, out: ab, s: s}, &pipeEnd{in: ab, out: ba, s: s}
}

type pipeShared struct {
	once   sync.Once
	done   chan struct{}
	reason string
}

type pipeEnd struct {
	in, out chan []byte
	s       *pipeShared
}

func (p *pipeEnd) closedErr() error {
	if p.s.reason != "" {
		return &CloseError{Reason: p.s.reason}
	}
	return ErrClosed
}

func (p *pipeEnd) ReadFrame(ctx context.Context) ([]byte, error) {
	// Drain what was written before the close, as TCP would.
	select {
	case f := <-p.in:
		return f, nil
	default:
	}
	select {
	case f := <-p.in:
		return f, nil
	case <-p.s.done:
		return nil, p.closedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeEnd) WriteFrame(ctx context.Context, frame []byte) error {
	select {
	case <-p.s.done:
		return p.closedErr()
	default:
	}
	f := append([]byte(nil), frame...)
	select {
	case p.out <- f:
		return nil
	case <-p.s.done:
		return p.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeEnd) Close(reason string) error {
	p.s.once.Do(func() {
		p.s.reason = reason
		close(p.s.done)
	})
	return nil
}
