package relayclient

import "sync"

// Read-ahead limits of a connection's delivery queue. Past the soft limits
// (DeliveryBuffer envelopes or softQueueBytes) the reader stops unless a
// request waits for its answer; past hardQueueBytes it stops regardless,
// bounding memory. Nothing is ever dropped.
const (
	softQueueBytes = 32 << 20
	hardQueueBytes = 256 << 20
)

// queue holds deliveries between the reader and the pump, in order.
type queue struct {
	mu       sync.Mutex
	items    []Delivery
	bytes    int
	soft     int // count at which the reader stops unless a request waits
	notEmpty chan struct{}
	space    chan struct{} // an item left the queue
}

func (q *queue) init(soft int) {
	q.soft = soft
	q.notEmpty = make(chan struct{}, 1)
	q.space = make(chan struct{}, 1)
}

// push appends d.
func (q *queue) push(d Delivery) {
	q.mu.Lock()
	q.items = append(q.items, d)
	q.bytes += len(d.Envelope)
	q.mu.Unlock()
	signal(q.notEmpty)
}

// room reports whether the reader may read on: always below the soft
// limits, and below the hard limit while a request waits (waiting).
func (q *queue) room(waiting bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bytes >= hardQueueBytes {
		return false
	}
	return waiting || (len(q.items) < q.soft && q.bytes < softQueueBytes)
}

// peek waits for the first item, or for done.
func (q *queue) peek(done <-chan struct{}) (Delivery, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			d := q.items[0]
			q.mu.Unlock()
			return d, true
		}
		q.mu.Unlock()
		select {
		case <-q.notEmpty:
		case <-done:
			return Delivery{}, false
		}
	}
}

// pop removes the first item, which peek returned.
func (q *queue) pop() {
	q.mu.Lock()
	q.bytes -= len(q.items[0].Envelope)
	q.items[0] = Delivery{}
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil
	}
	q.mu.Unlock()
	signal(q.space)
}
