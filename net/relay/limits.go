package relay

import (
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Limits bound what one client, one address and one mailbox may ask of the
// relay. A zero field means "use the default" (see DefaultLimits), except
// LimitLoopback, whose zero value keeps loopback clients exempt from the
// per-address limits so that a local app and local load tests are never
// throttled as if they were one abusive host.
type Limits struct {
	MaxEnvelope int           // bytes of one envelope (Send.Envelope)
	DefaultTTL  time.Duration // TTL of an envelope or blob sent with TTL 0
	MaxTTL      time.Duration // longer TTLs are clamped to it
	MaxBlob     int64         // bytes of one blob
	MaxChunk    int           // bytes of one BlobPut or BlobGet

	MailboxMaxMessages int   // envelopes held per mailbox
	MailboxMaxBytes    int64 // envelope bytes plus blob sizes held per mailbox

	// MaxInflight bounds the Deliver frames a connection has been sent for
	// one mailbox and not yet acknowledged; delivery pauses until Acks come.
	MaxInflight int

	// ConnRate and ConnBurst are the frames per second one connection may
	// send. Faster senders are slowed down (the relay stops reading from
	// them), not dropped.
	ConnRate  float64
	ConnBurst int

	// IPConnRate and IPConnBurst bound new connections per second from one
	// address (an IPv4 address or an IPv6 /64); IPMaxConns bounds its
	// concurrent connections.
	IPConnRate  float64
	IPConnBurst int
	IPMaxConns  int

	// MaxConns bounds concurrent connections to the relay; beyond it new
	// WebSocket upgrades get HTTP 503.
	MaxConns int

	// PrekeyClaimRate and PrekeyClaimBurst bound ClaimPrekey per mailbox,
	// so nobody can drain a mailbox's one-time keys.
	PrekeyClaimRate  float64
	PrekeyClaimBurst int

	// RegisterRate and RegisterBurst bound mailbox creations per
	// connection; IPRegisterRate and IPRegisterBurst per address.
	RegisterRate    float64
	RegisterBurst   int
	IPRegisterRate  float64
	IPRegisterBurst int

	// MaxMailboxesPerConn bounds the mailboxes one connection may
	// authenticate (each costs a subscription).
	MaxMailboxesPerConn int

	// IdleTimeout closes a connection that sent no frame for this long;
	// clients Ping to stay connected.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection that does not take a frame within
	// this long (a client that stopped reading), with 1013 and the reason
	// "not reading". It is also the longest a non-reading connection holds
	// delivery memory.
	WriteTimeout time.Duration

	// MaxConnsPerMailbox bounds the connections authenticated for one
	// mailbox at once. Auth or Register beyond it is answered rate-limited:
	// a reconnect racing its old connection's end succeeds on retry.
	MaxConnsPerMailbox int

	// DeliverConnBytes, DeliverMailboxBytes and DeliverTotalBytes bound
	// the envelope bytes the relay holds in memory for delivery (read
	// from the store or handed over by a Send, and not yet written to the
	// client): per connection, per mailbox over all its connections, and
	// over the whole relay. Each is counted in Deliver frame bytes and must
	// hold at least one frame of MaxEnvelope. A delivery that does not fit
	// waits until earlier frames are written (or their connection is cut
	// off by WriteTimeout); it is never dropped.
	DeliverConnBytes    int64
	DeliverMailboxBytes int64
	DeliverTotalBytes   int64

	// LimitLoopback applies the per-address limits (IPConnRate, IPMaxConns,
	// IPRegisterRate) to loopback clients too.
	LimitLoopback bool
}

// DefaultLimits returns the limits a relay uses unless told otherwise. They
// let about 1000 local clients each send tens of messages per second, and
// 10,000 idle connections from loopback.
func DefaultLimits() Limits {
	return Limits{
		MaxEnvelope:         256 << 10,
		DefaultTTL:          30 * 24 * time.Hour,
		MaxTTL:              30 * 24 * time.Hour,
		MaxBlob:             1<<30 + 1<<20, // a 1 GiB file with its encryption overhead
		MaxChunk:            256 << 10,
		MailboxMaxMessages:  10000,
		MailboxMaxBytes:     2 << 30, // room for one largest blob plus envelopes
		MaxInflight:         256,
		ConnRate:            200,
		ConnBurst:           400,
		IPConnRate:          5,
		IPConnBurst:         100,
		IPMaxConns:          256,
		MaxConns:            20000,
		PrekeyClaimRate:     1,
		PrekeyClaimBurst:    20,
		RegisterRate:        2,
		RegisterBurst:       64,
		IPRegisterRate:      0.5,
		IPRegisterBurst:     256,
		MaxMailboxesPerConn: 4096,
		IdleTimeout:         2 * time.Minute,
		WriteTimeout:        30 * time.Second,
		MaxConnsPerMailbox:  8,
		DeliverConnBytes:    2 << 20,
		DeliverMailboxBytes: 8 << 20,
		DeliverTotalBytes:   256 << 20,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set64 := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	setf := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setd := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxEnvelope, d.MaxEnvelope)
	setd(&l.DefaultTTL, d.DefaultTTL)
	setd(&l.MaxTTL, d.MaxTTL)
	set64(&l.MaxBlob, d.MaxBlob)
	set(&l.MaxChunk, d.MaxChunk)
	set(&l.MailboxMaxMessages, d.MailboxMaxMessages)
	set64(&l.MailboxMaxBytes, d.MailboxMaxBytes)
	set(&l.MaxInflight, d.MaxInflight)
	setf(&l.ConnRate, d.ConnRate)
	set(&l.ConnBurst, d.ConnBurst)
	setf(&l.IPConnRate, d.IPConnRate)
	set(&l.IPConnBurst, d.IPConnBurst)
	set(&l.IPMaxConns, d.IPMaxConns)
	set(&l.MaxConns, d.MaxConns)
	setf(&l.PrekeyClaimRate, d.PrekeyClaimRate)
	set(&l.PrekeyClaimBurst, d.PrekeyClaimBurst)
	setf(&l.RegisterRate, d.RegisterRate)
	set(&l.RegisterBurst, d.RegisterBurst)
	setf(&l.IPRegisterRate, d.IPRegisterRate)
	set(&l.IPRegisterBurst, d.IPRegisterBurst)
	set(&l.MaxMailboxesPerConn, d.MaxMailboxesPerConn)
	setd(&l.IdleTimeout, d.IdleTimeout)
	setd(&l.WriteTimeout, d.WriteTimeout)
	set(&l.MaxConnsPerMailbox, d.MaxConnsPerMailbox)
	// Defaulted budgets grow to hold a frame of a raised MaxEnvelope;
	// budgets given too small are an error (validate).
	frame := l.maxDeliverFrame()
	set64(&l.DeliverConnBytes, max(d.DeliverConnBytes, frame))
	set64(&l.DeliverMailboxBytes, max(d.DeliverMailboxBytes, l.DeliverConnBytes))
	set64(&l.DeliverTotalBytes, max(d.DeliverTotalBytes, l.DeliverMailboxBytes))
	return l
}

// validate rejects limits the wire format cannot announce or that make no
// sense together.
func (l Limits) validate() error {
	switch {
	case l.MaxEnvelope < 0 || l.MaxEnvelope > wire.MaxEnvelopeSize:
		return fmt.Errorf("relay: MaxEnvelope %d outside 1..%d", l.MaxEnvelope, wire.MaxEnvelopeSize)
	case l.MaxChunk < 0 || l.MaxChunk > wire.MaxChunkSize:
		return fmt.Errorf("relay: MaxChunk %d outside 1..%d", l.MaxChunk, wire.MaxChunkSize)
	case l.MaxBlob < 0:
		return fmt.Errorf("relay: negative MaxBlob %d", l.MaxBlob)
	case l.DefaultTTL < time.Second || l.MaxTTL < time.Second:
		return fmt.Errorf("relay: TTLs must be at least a second (default %v, max %v)", l.DefaultTTL, l.MaxTTL)
	case l.DefaultTTL > l.MaxTTL:
		return fmt.Errorf("relay: DefaultTTL %v above MaxTTL %v", l.DefaultTTL, l.MaxTTL)
	case l.MaxTTL/time.Second > 1<<32-1:
		return fmt.Errorf("relay: MaxTTL %v does not fit the wire's uint32 seconds", l.MaxTTL)
	case l.MaxInflight < 0 || l.MaxConns < 0 || l.IPMaxConns < 0 || l.ConnBurst < 0 ||
		l.IPConnBurst < 0 || l.PrekeyClaimBurst < 0 || l.RegisterBurst < 0 || l.IPRegisterBurst < 0 ||
		l.MailboxMaxMessages < 0 || l.MailboxMaxBytes < 0 || l.MaxMailboxesPerConn < 0 ||
		l.IdleTimeout < 0 || l.WriteTimeout < 0 || l.MaxConnsPerMailbox < 0:
		return fmt.Errorf("relay: negative limit in %+v", l)
	}
	frame := l.maxDeliverFrame()
	for _, b := range []struct {
		name string
		v    int64
	}{{"DeliverConnBytes", l.DeliverConnBytes}, {"DeliverMailboxBytes", l.DeliverMailboxBytes}, {"DeliverTotalBytes", l.DeliverTotalBytes}} {
		if b.v < frame {
			return fmt.Errorf("relay: %s %d below one Deliver frame of MaxEnvelope (%d bytes)", b.name, b.v, frame)
		}
	}
	return nil
}

// readLimit is the largest WebSocket message the relay reads: the largest
// payload plus room for the other fields of a frame.
func (l Limits) readLimit() int64 {
	return int64(max(l.MaxEnvelope, l.MaxChunk)) + 4096
}

// deliverOverhead is the bytes of a Deliver frame besides its envelope.
var deliverOverhead = int64(len(wire.Encode(0, &wire.Deliver{})))

// maxDeliverFrame is the largest Deliver frame the relay writes.
func (l Limits) maxDeliverFrame() int64 { return int64(l.MaxEnvelope) + deliverOverhead }
