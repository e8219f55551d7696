package relay

import (
	"sync"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Notifier carries "this mailbox has new envelopes" beyond this process.
// The relay always wakes its own subscribers after a durable Append; a
// multi-node store supplies a Notifier (Config.Notifier) that publishes the
// wake-up to the other nodes, and each node calls Server.Wake for wake-ups
// it receives. Notify must not block for long: it runs on the sender's
// connection, after Sent has been written.
type Notifier interface {
	Notify(mailbox wire.MailboxID)
}

// hub maps a mailbox to the subscriptions of connections authenticated for
// it. It holds no goroutines: a wake-up kicks each subscription, which
// starts a delivery pump only if one is not already running.
type hub struct {
	mu   sync.Mutex
	subs map[wire.MailboxID][]*sub
}

func newHub() *hub { return &hub{subs: make(map[wire.MailboxID][]*sub)} }

func (h *hub) add(s *sub) {
	h.mu.Lock()
	h.subs[s.mailbox] = append(h.subs[s.mailbox], s)
	h.mu.Unlock()
}

func (h *hub) remove(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.subs[s.mailbox]
	for i, x := range list {
		if x == s {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(h.subs, s.mailbox)
	} else {
		h.subs[s.mailbox] = list
	}
}

// wake kicks every local subscription of mailbox.
func (h *hub) wake(mailbox wire.MailboxID) {
	for _, s := range h.list(mailbox) {
		s.kick()
	}
}

// offer hands an envelope just stored in mailbox to every local
// subscription of it (see sub.offer).
func (h *hub) offer(mailbox wire.MailboxID, env store.Envelope) {
	for _, s := range h.list(mailbox) {
		s.offer(env)
	}
}

// list returns the subscriptions of mailbox.
func (h *hub) list(mailbox wire.MailboxID) []*sub {
	h.mu.Lock()
	list := h.subs[mailbox]
	// Almost always one or two subscribers: copy onto the stack so no
	// kick runs under the hub's lock.
	var buf [4]*sub
	out := append(buf[:0], list...)
	h.mu.Unlock()
	return out
}
