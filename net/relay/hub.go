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
// it, and to its delivery budget. It holds no goroutines: a wake-up kicks
// each subscription, which starts a delivery pump only if one is not
// already running.
type hub struct {
	mu    sync.Mutex
	boxes map[wire.MailboxID]*hubBox
	limit int   // Limits.MaxConnsPerMailbox
	bytes int64 // Limits.DeliverMailboxBytes
}

// hubBox is one mailbox's entry. It lives while any subscription holds a
// reference, which lasts until the subscription's pumps have ended, so a
// mailbox's delivery memory stays within one budget even while its
// connections come and go.
type hubBox struct {
	subs   []*sub // subscriptions that receive wake-ups
	refs   int    // subscriptions not yet released
	budget budget
}

func newHub(l Limits) *hub {
	return &hub{boxes: make(map[wire.MailboxID]*hubBox), limit: l.MaxConnsPerMailbox, bytes: l.DeliverMailboxBytes}
}

// join reserves a place for s among its mailbox's subscriptions and
// returns the mailbox's budget, or nil when the mailbox already has
// MaxConnsPerMailbox. s receives wake-ups from the start; its pumps wait
// for sub.start. The caller must call leave and then release once.
func (h *hub) join(s *sub) *budget {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.boxes[s.mailbox]
	if b == nil {
		b = &hubBox{budget: budget{limit: h.bytes}}
		h.boxes[s.mailbox] = b
	}
	if b.refs >= h.limit {
		if b.refs == 0 {
			delete(h.boxes, s.mailbox)
		}
		return nil
	}
	b.refs++
	b.subs = append(b.subs, s)
	return &b.budget
}

// leave stops wake-ups for s.
func (h *hub) leave(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.boxes[s.mailbox]
	if b == nil {
		return
	}
	for i, x := range b.subs {
		if x == s {
			b.subs[i] = b.subs[len(b.subs)-1]
			b.subs[len(b.subs)-1] = nil
			b.subs = b.subs[:len(b.subs)-1]
			break
		}
	}
	if len(b.subs) == 0 {
		b.subs = nil
	}
}

// release gives up s's place once its pumps have ended.
func (h *hub) release(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.boxes[s.mailbox]
	if b == nil {
		return
	}
	b.refs--
	if b.refs <= 0 {
		delete(h.boxes, s.mailbox)
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
	var list []*sub
	if b := h.boxes[mailbox]; b != nil {
		list = b.subs
	}
	// Almost always one or two subscribers: copy onto the stack so no
	// kick runs under the hub's lock.
	var buf [4]*sub
	out := append(buf[:0], list...)
	h.mu.Unlock()
	return out
}
