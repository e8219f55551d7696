package wire_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

func TestPipeOrder(t *testing.T) {
	a, b := wire.Pipe()
	ctx := context.Background()
	const n = 1000 // well past the 64-frame buffer
	var wg sync.WaitGroup
	for _, dir := range []struct {
		name     string
		from, to wire.Conn
	}{{"a→b", a, b}, {"b→a", b, a}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := dir.from.WriteFrame(ctx, binary.BigEndian.AppendUint32(nil, uint32(i))); err != nil {
					t.Errorf("%s: write %d: %v", dir.name, i, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range n {
				f, err := dir.to.ReadFrame(ctx)
				if err != nil {
					t.Errorf("%s: read %d: %v", dir.name, i, err)
					return
				}
				if got := binary.BigEndian.Uint32(f); got != uint32(i) {
					t.Errorf("%s: frame %d, want %d", dir.name, got, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPipeCopiesFrames(t *testing.T) {
	a, b := wire.Pipe()
	ctx := context.Background()
	f := []byte{1, 2, 3}
	if err := a.WriteFrame(ctx, f); err != nil {
		t.Fatal(err)
	}
	f[0] = 9
	got, err := b.ReadFrame(ctx)
	if err != nil || got[0] != 1 {
		t.Fatalf("got %v, %v; want the frame as written", got, err)
	}
}

func TestPipeConcurrentWriters(t *testing.T) {
	a, b := wire.Pipe()
	ctx := context.Background()
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f := []byte{byte(w), byte(i >> 8), byte(i)}
				if err := a.WriteFrame(ctx, f); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	for range writers * each {
		f, err := b.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w, i := int(f[0]), int(f[1])<<8|int(f[2])
		if i != next[w] {
			t.Fatalf("writer %d: frame %d, want %d: frames of one writer reordered or lost", w, i, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

func TestPipeCloseReason(t *testing.T) {
	a, b := wire.Pipe()
	ctx := context.Background()
	if err := a.WriteFrame(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close("policy violation"); err != nil {
		t.Fatal(err)
	}
	// What was written before the close is still read, in order.
	if f, err := b.ReadFrame(ctx); err != nil || string(f) != "before" {
		t.Fatalf("read after close: %q, %v; want the buffered frame", f, err)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"peer read", func() error { _, err := b.ReadFrame(ctx); return err }()},
		{"peer write", b.WriteFrame(ctx, []byte("x"))},
		{"own read", func() error { _, err := a.ReadFrame(ctx); return err }()},
		{"own write", a.WriteFrame(ctx, []byte("x"))},
	} {
		var ce *wire.CloseError
		if !errors.As(c.err, &ce) || ce.Reason != "policy violation" {
			t.Errorf("%s: %v, want CloseError with the reason", c.name, c.err)
		}
		if !errors.Is(c.err, wire.ErrClosed) {
			t.Errorf("%s: %v is not ErrClosed", c.name, c.err)
		}
	}
	// A second close keeps the first reason.
	b.Close("other")
	if _, err := b.ReadFrame(ctx); err == nil || err.Error() != "wire: connection closed by peer: policy violation" {
		t.Errorf("after second close: %v", err)
	}
}

func TestPipeCloseWithoutReason(t *testing.T) {
	a, b := wire.Pipe()
	a.Close("")
	_, err := b.ReadFrame(context.Background())
	if err != wire.ErrClosed {
		t.Errorf("got %v, want ErrClosed itself", err)
	}
}

func TestPipeCloseUnblocks(t *testing.T) {
	a, b := wire.Pipe()
	ctx := context.Background()
	for range 64 {
		if err := a.WriteFrame(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- a.WriteFrame(ctx, []byte("blocked")) }() // buffer full
	go func() { _, err := a.ReadFrame(ctx); errs <- err }()      // nothing to read
	time.Sleep(10 * time.Millisecond)                            // let both block; the test passes either way
	b.Close("bye")
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, wire.ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock a blocked call")
		}
	}
}

func TestPipeContext(t *testing.T) {
	a, b := wire.Pipe()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.ReadFrame(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a canceled context on an empty pipe: %v, want context.Canceled", err)
	}
	ctx := context.Background()
	for range 64 {
		if err := a.WriteFrame(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := a.WriteFrame(short, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("write to a full pipe: %v, want context.DeadlineExceeded", err)
	}
	// A frame that is already there is read even with a canceled context.
	if _, err := b.ReadFrame(canceled); err != nil {
		t.Errorf("read of a buffered frame with a canceled context: %v", err)
	}
	// The pipe still works after a canceled call.
	if err := a.WriteFrame(ctx, []byte("y")); err != nil {
		t.Errorf("write after a canceled one: %v", err)
	}
}
