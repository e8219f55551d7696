package loadtest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p90, p99, mx := Percentiles(d)
	if p50 != 50 || p90 != 90 || p99 != 99 || mx != 100 {
		t.Errorf("got p50 %v p90 %v p99 %v max %v, want 50 90 99 100", p50, p90, p99, mx)
	}
	if a, b, c, m := Percentiles(nil); a != 0 || b != 0 || c != 0 || m != 0 {
		t.Errorf("empty: got %v %v %v %v, want zeros", a, b, c, m)
	}
	p50, _, p99, mx = Percentiles([]time.Duration{1500 * time.Microsecond})
	if p50 != 1.5 || p99 != 1.5 || mx != 1.5 {
		t.Errorf("one sample: got %v %v %v, want 1.5", p50, p99, mx)
	}
}

func TestDest(t *testing.T) {
	const n = 5
	for i := range n {
		seen := map[int]bool{}
		for k := range n - 1 {
			d := Dest(i, k, n)
			if d == i {
				t.Errorf("client %d sends message %d to itself", i, k)
			}
			seen[d] = true
		}
		if len(seen) != n-1 {
			t.Errorf("client %d reaches %d clients in %d messages, want %d", i, len(seen), n-1, n-1)
		}
	}
	if d := Dest(0, 3, 1); d != 0 {
		t.Errorf("single client: got %d, want 0", d)
	}
}

func TestTrackerCounts(t *testing.T) {
	tr := NewTracker(3, 4)
	tr.SendStarted(10 * time.Millisecond)
	tr.SendStarted(20 * time.Millisecond) // only the first counts
	// Sender 0 sends 4 messages to client 1; sender 2 sends 1 to client 0.
	for k := range uint32(4) {
		tr.Sent(0, k)
	}
	tr.Sent(0, 0) // a repeated Sent is not a second message
	tr.Sent(2, 0)
	if got := tr.Outstanding(); got != 5 {
		t.Errorf("outstanding before delivery: got %d, want 5", got)
	}
	at := 110 * time.Millisecond
	for k := range uint32(3) { // message 3 is lost
		if !tr.Delivered(1, Payload{Sender: 0, Receiver: 1, Seq: k}, at) {
			t.Errorf("message %d: first delivery not reported as first", k)
		}
	}
	if tr.Delivered(1, Payload{Sender: 0, Receiver: 1, Seq: 1}, 500*time.Millisecond) {
		t.Error("duplicate reported as first")
	}
	tr.Delivered(0, Payload{Sender: 2, Receiver: 0, Seq: 0}, at)
	tr.Delivered(2, Payload{Sender: 1, Receiver: 2, Seq: 1}, at) // delivered, never Sent
	tr.Delivered(2, Payload{Sender: 0, Receiver: 1, Seq: 2}, at) // wrong mailbox
	tr.Delivered(0, Payload{Sender: 9, Receiver: 0, Seq: 0}, at) // no such sender
	tr.Corrupt()
	tr.Stale()
	tr.Error()
	tr.AddLatencies([]time.Duration{time.Millisecond, 3 * time.Millisecond})
	tr.AddSendLatencies([]time.Duration{2 * time.Millisecond})

	var r Result
	tr.Fill(&r)
	want := Result{
		Sent: 5, Delivered: 5, Lost: 1, Duplicates: 1, Corrupt: 1, Misrouted: 2, Stale: 1, Errors: 1,
		ElapsedS: 0.1, MessagesPerS: 50, P50ms: 1, P90ms: 3, P99ms: 3, Maxms: 3, SendP50ms: 2, SendP99ms: 2,
	}
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if got := tr.Outstanding(); got != 1 {
		t.Errorf("outstanding: got %d, want 1 (the lost message)", got)
	}
	if !r.Failed() {
		t.Error("a run with a lost message is not reported as failed")
	}
}

// Sent and Delivered may race for the same message (the relay can push to
// the receiver before the sender reads Sent); Outstanding must end at 0.
func TestTrackerSentDeliveredRace(t *testing.T) {
	const n = 2000
	tr := NewTracker(1, n)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for k := range uint32(n) {
			tr.Sent(0, k)
		}
	}()
	go func() {
		defer wg.Done()
		for k := range uint32(n) {
			tr.Delivered(0, Payload{Sender: 0, Receiver: 0, Seq: k}, time.Second)
		}
	}()
	wg.Wait()
	if got := tr.Outstanding(); got != 0 {
		t.Errorf("outstanding: got %d, want 0", got)
	}
	if l := tr.Lost(); l != 0 {
		t.Errorf("lost: got %d, want 0", l)
	}
}

func TestResultJSONFields(t *testing.T) {
	b, err := json.Marshal(Result{RelayRSS: 1})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"messages_per_s", "p50_ms", "p99_ms", "max_ms", "sent", "delivered", "lost",
		"duplicates", "corrupt", "errors", "clients", "size", "relay_rss_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, b)
		}
	}
}

func TestMetricsURLFor(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ws://127.0.0.1:8080/v1/ws", "http://127.0.0.1:8080/metrics"},
		{"ws://localhost:1/v1/ws?x=1", "http://localhost:1/metrics"},
		{"wss://[::1]:443/v1/ws", "https://[::1]:443/metrics"},
		{"wss://relay.example.org/v1/ws", ""},
		{"ftp://127.0.0.1/", ""},
	} {
		if got := MetricsURLFor(c.in); got != c.want {
			t.Errorf("MetricsURLFor(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}
