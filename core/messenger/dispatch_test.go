package messenger

import (
	"testing"
	"time"
)

func TestDispatcherKeepsOrderAndDoesNotBlockPosters(t *testing.T) {
	d := newDispatcher()
	release := make(chan struct{})
	var got []ConnState
	d.setHandler(func(e Event) {
		<-release // a handler stuck until every event is posted
		got = append(got, e.(ConnectionChanged).State)
	})
	const n = 1000
	posted := make(chan struct{})
	go func() {
		for i := range n {
			d.post(ConnectionChanged{State: ConnState(i)})
		}
		close(posted)
	}()
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("post blocked behind a slow handler")
	}
	close(release)
	d.close() // delivers everything queued before returning
	if len(got) != n {
		t.Fatalf("handler got %d events, want %d", len(got), n)
	}
	for i, s := range got {
		if s != ConnState(i) {
			t.Fatalf("event %d has state %d, want %d", i, s, i)
		}
	}
}

func TestDispatcherDropsEventsAfterClose(t *testing.T) {
	d := newDispatcher()
	calls := 0
	d.setHandler(func(Event) { calls++ })
	d.close()
	d.post(ConnectionChanged{})
	if calls != 0 {
		t.Errorf("handler called %d times after close, want 0", calls)
	}
}
