package loadtest

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker counts what happened to every message of a run: which ones the
// relay acknowledged, how often each was delivered, and how long delivery
// took. Message k of sender s has index s*perClient+k. Safe for
// concurrent use.
type Tracker struct {
	clients, perClient int

	// state holds, per message, bit 0: the relay answered Sent, and above
	// it the number of deliveries seen. One word per message, so Sent and
	// Delivered racing on it agree on which of them saw the other.
	state []atomic.Uint32

	sentCount, unique, dups atomic.Int64
	outstanding             atomic.Int64 // sent and not yet delivered
	corrupt, misrouted      atomic.Int64
	stale, errs             atomic.Int64

	firstSend, lastDeliver atomic.Int64 // ns since run start; firstSend 0 = none yet

	mu        sync.Mutex
	latencies []time.Duration
	sendLat   []time.Duration
}

// NewTracker makes a Tracker for clients senders of up to perClient messages.
func NewTracker(clients, perClient int) *Tracker {
	return &Tracker{
		clients:   clients,
		perClient: perClient,
		state:     make([]atomic.Uint32, clients*perClient),
	}
}

func (t *Tracker) index(sender, seq uint32) (int, bool) {
	if int(sender) >= t.clients || int(seq) >= t.perClient {
		return 0, false
	}
	return int(sender)*t.perClient + int(seq), true
}

// SendStarted notes the time of a send; the first one starts the clock of
// the throughput figure.
func (t *Tracker) SendStarted(at time.Duration) {
	t.firstSend.CompareAndSwap(0, int64(max(at, 1)))
}

// Sent records that the relay acknowledged message seq of sender.
func (t *Tracker) Sent(sender, seq uint32) {
	i, ok := t.index(sender, seq)
	if !ok {
		return
	}
	if old := t.state[i].Or(1); old&1 == 0 {
		t.sentCount.Add(1)
		if old>>1 == 0 {
			t.outstanding.Add(1)
		}
	}
}

// Delivered records a delivery of p to receiver at time now (ns since run
// start) and returns whether it was the first delivery of that message.
// A batch of latencies is handed over by the caller through AddLatencies,
// so the hot path takes no lock.
func (t *Tracker) Delivered(receiver uint32, p Payload, now time.Duration) (first bool) {
	i, ok := t.index(p.Sender, p.Seq)
	if !ok || p.Receiver != receiver {
		t.misrouted.Add(1)
		return false
	}
	old := t.state[i].Add(2) - 2
	if old>>1 > 0 {
		t.dups.Add(1)
		return false
	}
	t.unique.Add(1)
	if old&1 != 0 {
		t.outstanding.Add(-1)
	}
	for {
		last := t.lastDeliver.Load()
		if int64(now) <= last || t.lastDeliver.CompareAndSwap(last, int64(now)) {
			break
		}
	}
	return true
}

// Misrouted counts an intact envelope delivered to the wrong mailbox.
func (t *Tracker) Misrouted() { t.misrouted.Add(1) }

// Corrupt counts an envelope that failed its checks.
func (t *Tracker) Corrupt() { t.corrupt.Add(1) }

// Stale counts an intact envelope left over from another run.
func (t *Tracker) Stale() { t.stale.Add(1) }

// Error counts a failed operation.
func (t *Tracker) Error() { t.errs.Add(1) }

// AddSendLatencies merges Send-to-Sent latencies recorded by one sender.
func (t *Tracker) AddSendLatencies(d []time.Duration) {
	t.mu.Lock()
	t.sendLat = append(t.sendLat, d...)
	t.mu.Unlock()
}

// Outstanding is the number of messages the relay acknowledged that have
// not been delivered yet.
func (t *Tracker) Outstanding() int64 { return t.outstanding.Load() }

// AddLatencies merges delivery latencies recorded by one receiver.
func (t *Tracker) AddLatencies(d []time.Duration) {
	t.mu.Lock()
	t.latencies = append(t.latencies, d...)
	t.mu.Unlock()
}

// SentCount is the number of messages the relay acknowledged.
func (t *Tracker) SentCount() int64 { return t.sentCount.Load() }

// UniqueCount is the number of distinct messages delivered.
func (t *Tracker) UniqueCount() int64 { return t.unique.Load() }

// Lost counts messages acknowledged by the relay and never delivered.
func (t *Tracker) Lost() int64 {
	var n int64
	for i := range t.state {
		if t.state[i].Load() == 1 { // sent, never delivered
			n++
		}
	}
	return n
}

// Result is the one JSON line a load run prints.
type Result struct {
	Mode         string  `json:"mode"`
	Label        string  `json:"label,omitempty"`
	Clients      int     `json:"clients"`
	Messages     int     `json:"messages"` // per client, as asked
	Size         int     `json:"size"`
	MessagesPerS float64 `json:"messages_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	Maxms        float64 `json:"max_ms"`
	SendP50ms    float64 `json:"send_p50_ms"` // Send to Sent: the relay's durable write
	SendP99ms    float64 `json:"send_p99_ms"`
	Sent         int64   `json:"sent"`
	Delivered    int64   `json:"delivered"`
	Acked        int64   `json:"acked"`
	Lost         int64   `json:"lost"`
	Duplicates   int64   `json:"duplicates"`
	Corrupt      int64   `json:"corrupt"`
	Misrouted    int64   `json:"misrouted"`
	Stale        int64   `json:"stale"`
	Errors       int64   `json:"errors"`
	ElapsedS     float64 `json:"elapsed_s"` // first send to last delivery
	ConnectS     float64 `json:"connect_s"` // dialling and registering all clients
	TimedOut     bool    `json:"timed_out,omitempty"`
	RelayRSS     int64   `json:"relay_rss_bytes,omitempty"`
	RelayPeakRSS int64   `json:"relay_rss_peak_bytes,omitempty"`
	RelayCPUS    float64 `json:"relay_cpu_s,omitempty"` // relay process CPU seconds during the run
	ClientCPUS   float64 `json:"loadtest_cpu_s,omitempty"`
	RelayCPUus   float64 `json:"relay_cpu_us_per_msg,omitempty"`
}

// Failed reports whether the run lost, corrupted or misrouted a message or
// saw errors: what makes the command exit non-zero.
func (r *Result) Failed() bool {
	return r.Lost > 0 || r.Corrupt > 0 || r.Misrouted > 0 || r.Errors > 0 || r.TimedOut
}

// Fill computes the message figures of r from t.
func (t *Tracker) Fill(r *Result) {
	r.Sent = t.sentCount.Load()
	r.Delivered = t.unique.Load()
	r.Lost = t.Lost()
	r.Duplicates = t.dups.Load()
	r.Corrupt = t.corrupt.Load()
	r.Misrouted = t.misrouted.Load()
	r.Stale = t.stale.Load()
	r.Errors = t.errs.Load()
	first, last := t.firstSend.Load(), t.lastDeliver.Load()
	if first > 0 && last > first {
		el := time.Duration(last - first)
		r.ElapsedS = round3(el.Seconds())
		r.MessagesPerS = round1(float64(r.Delivered) / el.Seconds())
	}
	t.mu.Lock()
	lat := slices.Clone(t.latencies)
	sl := slices.Clone(t.sendLat)
	t.mu.Unlock()
	r.P50ms, r.P90ms, r.P99ms, r.Maxms = Percentiles(lat)
	r.SendP50ms, _, r.SendP99ms, _ = Percentiles(sl)
}

// Percentiles returns the 50th, 90th and 99th percentiles (nearest rank)
// and the maximum of d, in milliseconds. d is sorted in place.
func Percentiles(d []time.Duration) (p50, p90, p99, maxv float64) {
	if len(d) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(d)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(d)))) - 1
		i = min(max(i, 0), len(d)-1)
		return ms(d[i])
	}
	return rank(50), rank(90), rank(99), ms(d[len(d)-1])
}

func ms(d time.Duration) float64 { return round3(float64(d) / 1e6) }
func round3(f float64) float64   { return math.Round(f*1000) / 1000 }
func round1(f float64) float64   { return math.Round(f*10) / 10 }
