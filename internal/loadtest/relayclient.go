package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
)

// rcEndpoint is a load client on net/relayclient: the app's own client,
// with its reconnection, pings and delivery buffer. A goroutine takes
// deliveries off its channel and acknowledges what has arrived in one Ack,
// as the app does.
type rcEndpoint struct {
	c    *relayclient.Client
	done chan struct{}
}

func dialRelayClient(ctx context.Context, cfg Config, lc *loadClient,
	deliver func(*loadClient, wire.MailboxID, []byte), h clientHooks) (endpoint, error) {
	c, rctx, stop, err := startRelayClient(ctx, cfg.urlFor(lc.idx), cfg.HTTPClient, func(err error) { h.dropped(lc, err) })
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := c.Register(rctx, relayclient.Mailbox{ID: lc.mb.ID, Key: lc.mb.Key, SendTokenHash: lc.mb.TokenHash}); err != nil {
		c.Close()
		if cause := context.Cause(rctx); cause != nil && rctx.Err() != nil {
			err = cause
		}
		return nil, fmt.Errorf("register: %w", err)
	}
	e := &rcEndpoint{c: c, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		var seqs []uint64
		take := func(d relayclient.Delivery) {
			// Counted before it is recorded, so the run cannot end
			// between the delivery and its Ack.
			h.queued(1)
			seqs = append(seqs, d.Seq)
			deliver(lc, d.Mailbox, d.Envelope)
		}
		ch := c.Deliveries()
		for d := range ch {
			seqs = seqs[:0]
			take(d)
		drain:
			for len(seqs) < wire.MaxAckCount {
				select {
				case d, ok := <-ch:
					if !ok {
						break drain
					}
					take(d)
				default:
					break drain
				}
			}
			actx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := c.Ack(actx, lc.mb.ID, seqs...)
			cancel()
			h.acked(lc, len(seqs), err)
		}
	}()
	return e, nil
}

// startRelayClient starts a relayclient.Client. Its first connection
// failure cancels the returned context rather than being retried, so a
// run does not wait out its timeout for a relay that is not there; a
// connection that drops later is reported to dropped (the client
// reconnects by itself, but a load run counts every drop).
func startRelayClient(ctx context.Context, url string, hc *http.Client, dropped func(error)) (*relayclient.Client, context.Context, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	var connected atomic.Bool
	c, err := relayclient.New(relayclient.Config{
		URL:        url,
		HTTPClient: hc,
		OnState: func(st relayclient.State, err error) {
			switch {
			case st == relayclient.Connected:
				connected.Store(true)
			case st == relayclient.Disconnected && err != nil:
				if !connected.Load() {
					cancel(err)
				} else if dropped != nil {
					dropped(err)
				}
			}
		},
	})
	if err != nil {
		cancel(nil)
		return nil, nil, nil, err
	}
	c.Start()
	return c, ctx, func() { cancel(nil) }, nil
}

func (e *rcEndpoint) Send(ctx context.Context, to wire.MailboxID, token wire.Key32, ttl uint32, env []byte) (uint64, error) {
	return e.c.Send(ctx, to, token, time.Duration(ttl)*time.Second, env)
}

// Close closes the client, which closes its Deliveries channel and so
// ends the acknowledging goroutine.
func (e *rcEndpoint) Close() { go e.c.Close() }

func (e *rcEndpoint) Done() <-chan struct{} { return e.done }
