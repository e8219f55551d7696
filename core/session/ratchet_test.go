package session

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestOutOfOrderAndReplay(t *testing.T) {
	w := newWorld(t, 10, 1)
	a, b := w.pair(t, w.up.OneTime[0])
	m := make([][]byte, 5)
	for i := range m {
		m[i] = send(t, a, fmt.Sprint("a", i))
	}
	recv(t, b, m[3], "a3")
	recv(t, b, m[0], "a0")
	mustReject(t, b, m[3], nil, "replay of a3")
	mustReject(t, b, m[0], nil, "replay of a0")
	// Bob turns the ratchet; Alice answers on a new chain; old chain
	// messages still decrypt through skipped keys.
	recv(t, a, send(t, b, "b0"), "b0")
	recv(t, b, send(t, a, "a-new"), "a-new")
	recv(t, b, m[4], "a4")
	recv(t, b, m[1], "a1")
	mustReject(t, b, m[1], nil, "replay of a1 after a ratchet step")
	recv(t, b, m[2], "a2")
	if len(b.skipped) != 0 {
		t.Fatalf("%d skipped keys left, want 0", len(b.skipped))
	}
	// Associated data is bound.
	x := send(t, a, "with ad")
	mustReject(t, b, x, []byte("other"), "wrong ad")
	if pt, err := b.Decrypt(x, nil); err != nil || string(pt) != "with ad" {
		t.Fatalf("got %q, %v", pt, err)
	}
}

func TestForwardSecrecy(t *testing.T) {
	w := newWorld(t, 11, 0)
	a, b := w.pair(t, nil)
	m1 := send(t, a, "secret 1")
	recv(t, b, m1, "secret 1")
	// Attacker's copy after the fact, with the record of seen messages
	// (the receive counter and any skipped keys) removed.
	c := clone(t, b)
	c.st.nr = 0
	c.skipped = nil
	if _, err := c.Decrypt(m1, nil); err == nil {
		t.Fatal("a later state copy decrypted an already-read message")
	}
	// Same after a full round trip (old chain keys are gone).
	m2 := send(t, a, "secret 2")
	recv(t, b, m2, "secret 2")
	recv(t, a, send(t, b, "reply"), "reply")
	recv(t, b, send(t, a, "next"), "next")
	c = clone(t, b)
	c.skipped = nil
	c.st.nr = 0
	for _, m := range [][]byte{m1, m2} {
		if _, err := c.Decrypt(m, nil); err == nil {
			t.Fatal("a later state copy decrypted an old message")
		}
	}
}

func TestPostCompromiseSecurity(t *testing.T) {
	w := newWorld(t, 12, 0)
	a, b := w.pair(t, nil)
	recv(t, a, send(t, b, "b0"), "b0")
	stolen := clone(t, a) // the attacker's copy of Alice, with its own randomness
	stolen.SetRand(seeded(99))
	// The copy works right after the theft ...
	m := send(t, b, "b1")
	if _, err := clone(t, stolen).Decrypt(m, nil); err != nil {
		t.Fatalf("copy should decrypt right after the theft: %v", err)
	}
	recv(t, a, m, "b1")
	// ... and the attacker sees every message, but after a few round
	// trips with fresh DH and KEM keys it is locked out.
	lockedOut := false
	for i := range 3 {
		ma := send(t, a, fmt.Sprint("a", i))
		recv(t, b, ma, fmt.Sprint("a", i))
		_, _ = stolen.Decrypt(ma, nil)
		mb := send(t, b, fmt.Sprint("b", i))
		recv(t, a, mb, fmt.Sprint("b", i))
		if _, err := stolen.Decrypt(mb, nil); err != nil {
			lockedOut = true
		}
	}
	if !lockedOut {
		t.Fatal("the stolen state still decrypts after three round trips")
	}
	if _, err := stolen.Decrypt(send(t, b, "later"), nil); err == nil {
		t.Fatal("the stolen state decrypts new messages")
	}
}

func TestSkippedKeyBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip int
		ok   bool
	}{{"MaxSkip", MaxSkip, true}, {"MaxSkip+1", MaxSkip + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 13, 0)
			a, b := w.pair(t, nil) // Bob has received n = 0
			// Fast-forward Alice's sending chain without building messages.
			for range tc.skip {
				_, next := kdfChain(&a.st.cks)
				a.st.cks = next
				a.st.ns++
			}
			m := send(t, a, "far") // n = skip+1: skips keys 1 .. skip
			if !tc.ok {
				mustReject(t, b, m, nil, "jump over MaxSkip")
				if _, err := b.Decrypt(m, nil); !errors.Is(err, ErrTooFarAhead) {
					t.Fatalf("got %v, want ErrTooFarAhead", err)
				}
				return
			}
			recv(t, b, m, "far")
			if len(b.skipped) != MaxSkipped {
				t.Fatalf("%d skipped keys stored, want %d", len(b.skipped), MaxSkipped)
			}
			if b.skipped[0].n != uint32(tc.skip-MaxSkipped+1) || b.skipped[MaxSkipped-1].n != uint32(tc.skip) {
				t.Fatalf("stored keys %d..%d, want the most recent", b.skipped[0].n, b.skipped[MaxSkipped-1].n)
			}
		})
	}
}

func TestSkippedKeysEvictOldest(t *testing.T) {
	w := newWorld(t, 15, 0)
	a, b := w.pair(t, nil)
	var msgs [][]byte
	for i := range MaxSkipped + 2 {
		msgs = append(msgs, send(t, a, fmt.Sprint(i)))
	}
	last := send(t, a, "last")
	recv(t, b, last, "last")
	if len(b.skipped) != MaxSkipped {
		t.Fatalf("%d skipped keys, want %d", len(b.skipped), MaxSkipped)
	}
	mustReject(t, b, msgs[0], nil, "evicted key")
	mustReject(t, b, msgs[1], nil, "evicted key")
	recv(t, b, msgs[2], "2")
	recv(t, b, msgs[len(msgs)-1], fmt.Sprint(len(msgs)-1))
}

func TestStateRoundTrip(t *testing.T) {
	w := newWorld(t, 16, 1)
	a, b := w.pair(t, w.up.OneTime[0])
	skipped := send(t, a, "skipped")
	recv(t, b, send(t, a, "second"), "second") // leaves one skipped key
	for _, s := range []*Session{a, b} {
		enc := mustMarshal(t, s)
		c := &Session{}
		if err := c.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustMarshal(t, c), enc) {
			t.Fatal("round trip changed the state encoding")
		}
		for _, n := range []int{0, 2, len(enc) / 2, len(enc) - 1} {
			if err := new(Session).UnmarshalBinary(enc[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("truncated to %d: got %v, want ErrMalformed", n, err)
			}
		}
		if err := new(Session).UnmarshalBinary(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("trailing byte: got %v, want ErrMalformed", err)
		}
	}
	b2 := clone(t, b)
	recv(t, b2, skipped, "skipped")
	a2 := clone(t, a)
	recv(t, a2, send(t, b2, "from restored bob"), "from restored bob")
}

// TestRandomSchedules runs random conversations with loss, reordering,
// duplication, bursts and tampering. Every message delivered for the
// first time must decrypt to its plaintext; every duplicate or tampered
// copy must fail and leave the receiver's state byte-for-byte unchanged.
func TestRandomSchedules(t *testing.T) {
	schedules := 2000
	if raceEnabled || testing.Short() {
		schedules = 150
	}
	w := newWorld(t, 20, 0)
	baseA, baseB := w.pair(t, nil)
	encA, encB := mustMarshal(t, baseA), mustMarshal(t, baseB)
	for i := range schedules {
		runSchedule(t, uint64(i), encA, encB)
		if t.Failed() {
			t.Fatalf("schedule %d failed", i)
		}
	}
}

type inFlight struct {
	msg       []byte
	text      string
	delivered bool
}

func runSchedule(t *testing.T, seed uint64, encA, encB []byte) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var cs [2]*Session
	for i, enc := range [][]byte{encA, encB} {
		cs[i] = &Session{}
		if err := cs[i].UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		cs[i].SetRand(seeded(byte(seed + uint64(i))))
	}
	var queues [2][]*inFlight // queues[d]: messages towards side d
	sent := 0
	steps := 10 + rng.IntN(40)
	for step := 0; step < steps; step++ {
		from := rng.IntN(2)
		to := 1 - from
		switch op := rng.IntN(10); {
		case op < 4: // send one, or a burst (a long gap for the receiver)
			n := 1
			if rng.IntN(12) == 0 {
				n = 20 + rng.IntN(280)
			}
			for range n {
				text := fmt.Sprintf("s%d m%d from %d", seed, sent, from)
				sent++
				m, err := cs[from].Encrypt([]byte(text), nil)
				if err != nil {
					t.Fatalf("seed %d: encrypt: %v", seed, err)
				}
				queues[to] = append(queues[to], &inFlight{msg: m, text: text})
			}
		case op < 8: // deliver a random in-flight message
			q := queues[to]
			if len(q) == 0 {
				continue
			}
			// Prefer recent messages so that most get through.
			j := len(q) - 1 - rng.IntN(min(len(q), 8))
			f := q[j]
			if f.delivered {
				mustReject(t, cs[to], f.msg, nil, fmt.Sprintf("seed %d: duplicate %q", seed, f.text))
			} else {
				pt, err := cs[to].Decrypt(f.msg, nil)
				if err != nil {
					t.Fatalf("seed %d: first delivery of %q: %v", seed, f.text, err)
				}
				if string(pt) != f.text {
					t.Fatalf("seed %d: got %q, want %q", seed, pt, f.text)
				}
				f.delivered = true
			}
			if rng.IntN(3) != 0 { // usually removed; sometimes kept to duplicate
				queues[to] = append(q[:j], q[j+1:]...)
			}
		case op < 9: // tamper with an in-flight message
			q := queues[to]
			if len(q) == 0 {
				continue
			}
			f := q[rng.IntN(len(q))]
			bad := tamper(rng, f.msg)
			mustReject(t, cs[to], bad, nil, fmt.Sprintf("seed %d: tampered %q", seed, f.text))
		default: // lose a message
			q := queues[to]
			if len(q) == 0 {
				continue
			}
			j := rng.IntN(len(q))
			queues[to] = append(q[:j], q[j+1:]...)
		}
	}
	// Deliver everything left, in random order: all must decrypt (or be
	// rejected as duplicates if already delivered).
	for to := range 2 {
		q := queues[to]
		rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
		for _, f := range q {
			if f.delivered {
				mustReject(t, cs[to], f.msg, nil, "final duplicate")
				continue
			}
			pt, err := cs[to].Decrypt(f.msg, nil)
			if err != nil || string(pt) != f.text {
				t.Fatalf("seed %d: final delivery of %q: %q, %v", seed, f.text, pt, err)
			}
			f.delivered = true
		}
	}
}

func tamper(rng *rand.Rand, m []byte) []byte {
	bad := bytes.Clone(m)
	switch rng.IntN(4) {
	case 0:
		bad[rng.IntN(len(bad))] ^= byte(1 << rng.IntN(8))
	case 1:
		bad = bad[:rng.IntN(len(bad))]
	case 2:
		bad = append(bad, byte(rng.IntN(256)))
	default:
		i := rng.IntN(len(bad))
		bad[i] ^= 0xFF
		bad[len(bad)-1-rng.IntN(16)] ^= 1
	}
	return bad
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// TestEncryptAllOrNothing: an Encrypt that fails (here: randomness runs
// out, with and without a pending ratchet step) changes nothing.
func TestEncryptAllOrNothing(t *testing.T) {
	w := newWorld(t, 17, 0)
	a, b := w.pair(t, nil)
	for name, s := range map[string]*Session{"no step pending": a, "step pending": b} {
		before := mustMarshal(t, s)
		r := s.rand
		s.SetRand(failingReader{})
		if _, err := s.Encrypt([]byte("x"), nil); err == nil {
			t.Fatalf("%s: Encrypt succeeded without randomness", name)
		}
		if !bytes.Equal(before, mustMarshal(t, s)) {
			t.Fatalf("%s: failed Encrypt changed the state", name)
		}
		s.SetRand(r)
	}
	recv(t, a, send(t, b, "still fine"), "still fine")
}

func TestPrekeyMessageChecks(t *testing.T) {
	w := newWorld(t, 18, 0)
	a, b := w.pair(t, nil)
	m := send(t, a, "second prekey message") // Alice has no reply yet
	if m[1] != kindPrekeyMessage {
		t.Fatalf("kind %q, want a prekey message before the first reply", m[1])
	}
	// Another session's handshake header in front of a valid message.
	other := newWorld(t, 19, 0)
	a2, _ := other.pair(t, nil)
	m2 := send(t, a2, "x")
	forged := append(bytes.Clone(m[:2]), m2[2:2+initialSize]...)
	forged = append(forged, m[2+initialSize:]...)
	mustReject(t, b, forged, nil, "foreign handshake header")
	recv(t, b, m, "second prekey message")
	recv(t, a, send(t, b, "reply"), "reply")
	if m := send(t, a, "after reply"); m[1] != kindRatchetMessage {
		t.Fatalf("kind %q after the first reply, want a plain ratchet message", m[1])
	}
	mustReject(t, a, send(t, a2, "prekey message to the initiator"), nil, "prekey message to the initiator")
}
