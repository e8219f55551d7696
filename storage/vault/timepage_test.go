package vault

import (
	"fmt"
	"testing"
	"time"
)

// timeConversation stores n messages in conversation c whose Times mostly
// rise, with some stored late (an older Time) and some with no Time, and
// returns the order time the vault must give each (index seq-1): the
// running maximum of the Times.
func timeConversation(t *testing.T, v *Vault, c string, n int) []int64 {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	order := make([]int64, n)
	var last int64
	for i := 0; i < n; {
		err := v.Update(func(tx *Tx) error {
			for j := 0; j < 10000 && i < n; j, i = j+1, i+1 {
				tm := base.Add(time.Duration(i) * time.Second)
				switch {
				case i%997 == 5: // delivered late: sent over an hour earlier
					tm = tm.Add(-90 * time.Minute)
				case i%1009 == 7:
					tm = time.Time{}
				case i%2 == 1: // two messages in the same second
					tm = tm.Add(-time.Second)
				}
				if n := timeToNanos(tm); n > last {
					last = n
				}
				order[i] = last
				if _, err := tx.AddMessage(Message{Conversation: c, Time: tm, Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return order
}

// wantSeqAt is SeqAt by brute force over the model.
func wantSeqAt(order []int64, at int64) uint64 {
	for i, o := range order {
		if o >= at {
			return uint64(i + 1)
		}
	}
	return uint64(len(order) + 1)
}

func TestPagingByTime(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	v, _ := newVault(t)
	order := timeConversation(t, v, "c", n)
	if _, err := v.AddMessage(Message{Conversation: "other", Time: time.Unix(0, order[n/2]), Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	first, last := order[0], order[n-1]
	probes := map[string]int64{
		"before all":        first - 1,
		"first":             first,
		"after all":         last + 1,
		"last":              last,
		"middle exact":      order[n/2],
		"middle between":    order[n/2] + 1,
		"late message":      order[997*3+5],
		"zero-time message": order[1009*2+7],
		"near the end":      order[n-3],
	}
	for name, at := range probes {
		t.Run(name, func(t *testing.T) {
			want := wantSeqAt(order, at)
			got, err := v.SeqAt("c", time.Unix(0, at))
			if err != nil || got != want {
				t.Fatalf("SeqAt: got %d, %v, want %d", got, err, want)
			}
			page, err := v.MessagesBefore("c", time.Unix(0, at), 50)
			if err != nil {
				t.Fatal(err)
			}
			wantLen := min(50, int(want-1))
			if len(page) != wantLen {
				t.Fatalf("page: got %d messages, want %d", len(page), wantLen)
			}
			for i, m := range page {
				if m.Seq != want-1-uint64(i) {
					t.Fatalf("page[%d]: seq %d, want %d", i, m.Seq, want-1-uint64(i))
				}
				if o := order[m.Seq-1]; o >= at {
					t.Fatalf("page[%d]: order time %d not before %d", i, o, at)
				}
				if string(m.Body) != fmt.Sprintf("m%d", m.Seq-1) {
					t.Fatalf("page[%d]: body %q", i, m.Body)
				}
			}
		})
	}
	// The zero time means from the newest, like Messages(c, 0, n).
	if page, err := v.MessagesBefore("c", time.Time{}, 3); err != nil || len(page) != 3 || page[0].Seq != uint64(n) {
		t.Errorf("MessagesBefore(zero): %d messages, %v", len(page), err)
	}
	if page, err := v.MessagesBefore("nobody", time.Unix(0, last), 3); err != nil || len(page) != 0 {
		t.Errorf("empty conversation: %d messages, %v", len(page), err)
	}

	// Holes: delete a run of messages around a probe; the page skips them.
	at := order[n/3]
	want := wantSeqAt(order, at)
	for s := want - 200; s < want+200; s++ {
		if err := v.DeleteMessage("c", s); err != nil {
			t.Fatal(err)
		}
	}
	page, err := v.MessagesBefore("c", time.Unix(0, at), 10)
	if err != nil || len(page) != 10 || page[0].Seq != want-201 || page[9].Seq != want-210 {
		t.Fatalf("page over a hole: %d messages from %v, %v; want from %d", len(page), seqs(page), err, want-201)
	}
	// A continuation walks on by sequence number, order times falling.
	prev := page[len(page)-1]
	for range 3 {
		next, err := v.Messages("c", prev.Seq, 50)
		if err != nil || len(next) != 50 || next[0].Seq != prev.Seq-1 {
			t.Fatalf("next page: %d messages, %v", len(next), err)
		}
		for _, m := range next {
			if order[m.Seq-1] > order[prev.Seq-1] {
				t.Fatalf("order time rises from seq %d to %d", prev.Seq, m.Seq)
			}
			prev = m
		}
	}
}

func seqs(ms []Message) []uint64 {
	s := make([]uint64, len(ms))
	for i, m := range ms {
		s[i] = m.Seq
	}
	return s
}
