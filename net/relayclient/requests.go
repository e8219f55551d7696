package relayclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// connected returns the Connected session, waiting for one up to ctx.
func (c *Client) connected(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		st, s, changed := c.state, c.sess, c.changed
		c.mu.Unlock()
		if st == Closed {
			return nil, ErrClosed
		}
		if s != nil && !s.isDone() {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &disconnectedError{fmt.Errorf("no connection: %w", ctx.Err())}
		}
	}
}

// do sends the request build makes for the Connected session (waiting for
// one up to ctx) and returns its answer, which must be a T. A request that
// could not be sent is tried again on the next connection; one that was
// sent is not, since the relay may have run it.
func do[T wire.Message](ctx context.Context, c *Client, op string, build func(*session) (wire.Message, error)) (T, *session, error) {
	var zero T
	var s *session
	var cl call
	var req wire.Message
	for {
		var err error
		s, err = c.connected(ctx)
		if err != nil {
			return zero, nil, fmt.Errorf("relayclient: %s: %w", op, err)
		}
		req, err = build(s)
		if err != nil {
			return zero, s, fmt.Errorf("relayclient: %s: %w", op, err)
		}
		cl, err = s.send(ctx, req)
		var notSent *notSentError
		if errors.As(err, &notSent) {
			c.log.Debug("relay request not sent; waiting for the next connection", "op", op, "err", err)
			continue
		}
		if err != nil {
			return zero, s, fmt.Errorf("relayclient: %s: %w", op, err)
		}
		break
	}
	m, err := s.await(ctx, cl)
	if err != nil {
		return zero, s, fmt.Errorf("relayclient: %s: %w", op, err)
	}
	t, ok := m.(T)
	if !ok {
		return zero, s, fmt.Errorf("relayclient: %s: %w: %v answered with %v", op, ErrProtocol, req.Type(), m.Type())
	}
	return t, s, nil
}

// Register registers mb at the relay, or updates its send-token hash, and
// authenticates the connection for it. From then on the client
// authenticates mb again after every reconnect, and its envelopes arrive on
// Deliveries. It waits for a connection up to ctx.
func (c *Client) Register(ctx context.Context, mb Mailbox) error {
	if len(mb.Key) != ed25519.PrivateKeySize {
		return errors.New("relayclient: register: Mailbox.Key is not an Ed25519 private key")
	}
	mb.Key = slices.Clone(mb.Key)
	_, s, err := do[*wire.OK](ctx, c, "register", func(s *session) (wire.Message, error) {
		return s.registerRequest(mb), nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.gen++
	c.mailboxes[mb.ID] = &registration{mb: mb, gen: c.gen}
	cur := c.sess
	c.mu.Unlock()
	if cur == nil || cur == s {
		// Authenticated on s; a connection being set up now or later
		// sees the registration.
		return nil
	}
	// A newer connection became Connected after the relay answered, and
	// may have missed mb.
	if _, err := cur.roundTrip(ctx, cur.authRequest(mb)); err != nil {
		var werr *wire.Error
		if errors.As(err, &werr) {
			return fmt.Errorf("relayclient: register: auth: %w", err)
		}
		// That connection is gone too; the next one authenticates mb.
	}
	return nil
}

// Forget stops authenticating mailbox id after reconnects. The current
// connection stays authenticated for it until it drops.
func (c *Client) Forget(id wire.MailboxID) {
	c.mu.Lock()
	delete(c.mailboxes, id)
	c.mu.Unlock()
}

// Send stores envelope in mailbox to for ttl (0: the relay's default),
// presenting token (zero for an open mailbox). It returns the envelope's
// sequence number only once the relay says it is durable, and waits for a
// connection up to ctx. An error wrapping ErrDisconnected leaves unknown
// whether the envelope was stored: resending it may store it twice.
func (c *Client) Send(ctx context.Context, to wire.MailboxID, token wire.Key32, ttl time.Duration, envelope []byte) (uint64, error) {
	sent, _, err := do[*wire.Sent](ctx, c, "send", func(s *session) (wire.Message, error) {
		limit := wire.MaxEnvelopeSize
		if m := s.hello.MaxEnvelope; m > 0 && int64(m) < int64(limit) {
			limit = int(m)
		}
		if len(envelope) > limit {
			return nil, &wire.Error{Code: wire.CodeTooLarge, Message: fmt.Sprintf("envelope is %d bytes, relay limit %d", len(envelope), limit)}
		}
		return &wire.Send{Mailbox: to, SendToken: token, TTL: ttlSeconds(ttl), Envelope: envelope}, nil
	})
	if err != nil {
		return 0, err
	}
	return sent.Seq, nil
}

// Ack deletes delivered envelopes of an authenticated mailbox. It is safe to
// call from the goroutine that receives Deliveries. A lost Ack only means
// the envelopes are delivered again.
func (c *Client) Ack(ctx context.Context, mb wire.MailboxID, seqs ...uint64) error {
	for len(seqs) > 0 {
		n := min(len(seqs), wire.MaxAckCount)
		batch := seqs[:n]
		seqs = seqs[n:]
		_, _, err := do[*wire.OK](ctx, c, "ack", func(*session) (wire.Message, error) {
			return &wire.Ack{Mailbox: mb, Seqs: batch}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Prekey is a claimed prekey: the bundle with one one-time key, or with the
// last-resort key (LastResort set) when none were left.
type Prekey struct {
	Bundle     []byte
	Key        []byte
	LastResort bool
}

// PutPrekeys stores prekeys for an authenticated mailbox: bundle and
// lastResort replace the stored ones when non-empty, oneTime keys are
// appended, or replace the stored ones when replace is set. It returns how
// many one-time keys the relay now holds.
func (c *Client) PutPrekeys(ctx context.Context, mb wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool) (int, error) {
	if len(oneTime) > wire.MaxPrekeyCount {
		return 0, fmt.Errorf("relayclient: put prekeys: %d one-time keys, limit %d per call", len(oneTime), wire.MaxPrekeyCount)
	}
	st, _, err := do[*wire.PrekeysStored](ctx, c, "put prekeys", func(*session) (wire.Message, error) {
		return &wire.PutPrekeys{Mailbox: mb, Replace: replace, Bundle: bundle, LastResort: lastResort, OneTime: oneTime}, nil
	})
	if err != nil {
		return 0, err
	}
	return int(st.Remaining), nil
}

// ClaimPrekey claims a prekey of mailbox mb; no authentication is needed.
// A mailbox without a bundle gives an error matching
// &wire.Error{Code: wire.CodeNoPrekeys}.
func (c *Client) ClaimPrekey(ctx context.Context, mb wire.MailboxID) (Prekey, error) {
	p, _, err := do[*wire.Prekey](ctx, c, "claim prekey", func(*session) (wire.Message, error) {
		return &wire.ClaimPrekey{Mailbox: mb}, nil
	})
	if err != nil {
		return Prekey{}, err
	}
	return Prekey{Bundle: p.Bundle, Key: p.Key, LastResort: p.LastResort}, nil
}

// ttlSeconds converts a TTL to the wire's seconds, rounding up; 0 or less
// means the relay's default.
func ttlSeconds(ttl time.Duration) uint32 {
	if ttl <= 0 {
		return 0
	}
	s := (ttl + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}
