package natsstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errUnavailable wraps a JetStream answer that the stream has no leader
// right now (JSClusterNotAvailErr, HTTP-like code 503): a leader change,
// which a loaded machine's late heartbeats cause often. It passes in
// moments.
var errUnavailable = errors.New("stream temporarily unavailable")

// Backoff between retries: exponential from retryMin to retryMax, with
// full jitter so that writers that collided do not collide again.
const (
	retryMin = 2 * time.Millisecond
	retryMax = 250 * time.Millisecond
)

// retryable reports an error that a later attempt may not meet: a lost
// compare-and-set, or a cluster that is electing a leader. Anything else
// (a corrupt record, a missing mailbox) is final.
func retryable(err error) bool {
	// An attempt's own deadline (see attempt) is retryable too; the
	// call's deadline ends the retries in again.
	if errors.Is(err, errConflict) || errors.Is(err, errUnavailable) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable
}

// attempt bounds one attempt within a retried call: a request sent while
// a stream elects its leader may get no answer at all, and must not use
// up the whole call's deadline waiting for one.
func (s *Store) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(s.timeout/5, 200*time.Millisecond))
}

// retrier paces the attempts of one call. The zero value is ready.
type retrier struct {
	n    int
	last error
}

// again reports whether to try once more after err, having waited the
// backoff; false when err is final or ctx ends before the wait does.
// Each lost compare-and-set means another writer made progress, so under
// contention the calls still finish, one after another; the backoff keeps
// the losers from hammering the stream meanwhile.
func (r *retrier) again(ctx context.Context, err error) bool {
	if !retryable(err) {
		return false
	}
	r.last = err
	d := min(retryMax, retryMin<<min(r.n, 16))
	r.n++
	t := time.NewTimer(rand.N(d) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// final is the error a retried call returns: err itself when it is
// final, or, when the deadline ended the retries, the last retryable
// error together with the context's (which the relay answers with
// "unavailable", not "internal").
func (r *retrier) final(ctx context.Context, err error) error {
	if err == nil || !retryable(err) {
		return err
	}
	if errors.Is(err, errConflict) {
		err = fmt.Errorf("%w: %w", ErrContention, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w, until %w", err, ctx.Err())
	}
	return err
}
