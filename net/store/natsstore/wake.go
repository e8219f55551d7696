package natsstore

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Wake-ups go over core NATS, not JetStream: one message on eph.wake per
// durable Append, carrying the publishing Store's tag and the mailbox id,
// to every node subscribed. Nothing is stored; a node that misses one
// (disconnected at that moment) loses only the push, since its clients'
// connections to it broke as well or their next Auth reads the backlog.

// Notify implements relay.Notifier: it tells the other nodes that mailbox
// has new envelopes. It does not wait for them.
func (s *Store) Notify(mailbox wire.MailboxID) {
	msg := make([]byte, 0, len(s.node)+len(mailbox))
	msg = append(msg, s.node[:]...)
	msg = append(msg, mailbox[:]...)
	s.nc.Publish(subjWake, msg) // an error means disconnected: nothing to do
}

// SubscribeWake calls wake (the relay's Server.Wake) for every wake-up
// another node publishes, until Close. wake runs on one goroutine, in
// order, and must not block.
func (s *Store) SubscribeWake(wake func(wire.MailboxID)) error {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if s.wakeSub != nil {
		return errors.New("natsstore: already subscribed to wake-ups")
	}
	sub, err := s.nc.Subscribe(subjWake, func(m *nats.Msg) {
		var id wire.MailboxID
		if len(m.Data) != len(s.node)+len(id) || string(m.Data[:len(s.node)]) == string(s.node[:]) {
			return // ours (the relay woke its own subscribers already) or not a wake-up
		}
		copy(id[:], m.Data[len(s.node):])
		wake(id)
	})
	if err != nil {
		return fmt.Errorf("natsstore: subscribing to wake-ups: %w", err)
	}
	// A burst of wake-ups must not make the server cut this connection off
	// as a slow consumer; dropping a few is harmless, see above.
	sub.SetPendingLimits(1<<20, 64<<20)
	// Return once the server has the subscription, so no wake-up
	// published after this returns is missed.
	if err := s.nc.FlushTimeout(s.timeout); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("natsstore: subscribing to wake-ups: %w", err)
	}
	s.wakeSub = sub
	return nil
}
