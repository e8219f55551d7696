package messenger

import "sync"

// dispatcher hands events to the front end's handler from a goroutine of
// its own, through an unbounded queue, so the goroutines that produce events
// (the relay client's among them) never wait for the front end.
type dispatcher struct {
	mu      sync.Mutex
	handler func(Event)
	queue   []Event
	closed  bool
	wake    chan struct{} // buffered(1): "the queue or closed changed"
	done    chan struct{} // closed when run returns
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) setHandler(f func(Event)) {
	d.mu.Lock()
	d.handler = f
	d.mu.Unlock()
}

// post queues e; after close it is dropped.
func (d *dispatcher) post(e Event) {
	d.mu.Lock()
	if !d.closed {
		d.queue = append(d.queue, e)
	}
	d.mu.Unlock()
	d.signal()
}

// close delivers what is queued, then stops the goroutine and waits for it.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.signal()
	<-d.done
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for range d.wake {
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				closed := d.closed
				d.mu.Unlock()
				if closed {
					return
				}
				break
			}
			e := d.queue[0]
			d.queue[0] = nil
			d.queue = d.queue[1:]
			h := d.handler
			d.mu.Unlock()
			if h != nil {
				h(e)
			}
		}
	}
}
