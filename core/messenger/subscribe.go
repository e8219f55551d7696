package messenger

import (
	"sync"
	"time"
)

// Events a Messenger reports, besides ConnectionChanged.

// MessageAdded: a message was stored in a conversation (sent or received).
type MessageAdded struct{ Message Message }

// MessageUpdated: a message's delivery state, expiry or file changed.
type MessageUpdated struct{ Message Message }

// MessagesExpired: messages disappeared (timer, burn-on-read or deletion).
type MessagesExpired struct {
	Conversation string
	IDs          []string
}

// TransferProgress: bytes of a file moved so far.
type TransferProgress struct {
	MessageID string
	Upload    bool // true when sending, false when downloading
	Done      int64
	Total     int64
}

// ContactChanged: a contact was added or changed (including key changes
// and timer changes).
type ContactChanged struct{ Contact Contact }

// ContactRemoved: a contact and its conversation were deleted.
type ContactRemoved struct{ ID string }

// RelayChanged: the state of the connection to one relay changed.
type RelayChanged struct {
	Relay string
	State ConnState
	Err   error
}

// EventsDropped: the subscriber fell behind and N events were dropped; it
// should reload what it shows (contacts, the open conversation).
type EventsDropped struct{ N int }

func (MessageAdded) isEvent()     {}
func (MessageUpdated) isEvent()   {}
func (MessagesExpired) isEvent()  {}
func (TransferProgress) isEvent() {}
func (ContactChanged) isEvent()   {}
func (ContactRemoved) isEvent()   {}
func (RelayChanged) isEvent()     {}
func (EventsDropped) isEvent()    {}

// hub fans events out to subscribers. Posting never blocks: each
// subscriber has a bounded queue; when it is full the event is dropped and
// counted, and the subscriber gets EventsDropped before its next event, so
// a stalled front end costs bounded memory and never slows the messenger.
// TransferProgress events for one message are coalesced while queued.
type hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription is a stream of events; see Messenger.Subscribe.
type Subscription struct {
	h       *hub
	c       chan Event
	mu      sync.Mutex
	dropped int
	closed  bool
}

// Events returns the channel of events. It is closed by Close, or when the
// messenger closes.
func (s *Subscription) Events() <-chan Event { return s.c }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
}

func (h *hub) subscribe(buf int) *Subscription {
	if buf <= 0 {
		buf = 256
	}
	s := &Subscription{h: h, c: make(chan Event, buf)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) post(e Event) {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.send(e)
	}
}

func (s *Subscription) send(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.dropped > 0 {
		select {
		case s.c <- EventsDropped{N: s.dropped}:
			s.dropped = 0
		default:
			s.dropped++
			return
		}
	}
	select {
	case s.c <- e:
	default:
		s.dropped++
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for s := range subs {
		s.mu.Lock()
		if !s.closed {
			s.closed = true
			close(s.c)
		}
		s.mu.Unlock()
	}
}

// progressThrottle limits TransferProgress events to about one per frame.
type progressThrottle struct {
	last time.Time
}

func (p *progressThrottle) due(now time.Time, done, total int64) bool {
	if done >= total || now.Sub(p.last) >= 50*time.Millisecond {
		p.last = now
		return true
	}
	return false
}
