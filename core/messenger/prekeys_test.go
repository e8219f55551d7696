package messenger

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

// prekeyCounts reads m's prekey store under its lock.
func prekeyCounts(m *Messenger) (oneTime, signed int, rotated time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x, k := m.prekeys.OneTimeCount()
	sx, sk := m.prekeys.SignedCount()
	return max(x, k), max(sx, sk), m.prekeys.Rotated()
}

// acceptAndTalk has a fresh profile accept inv and checks that both
// sides see each other and that a message goes each way.
func acceptAndTalk(t *testing.T, a *Messenger, relay string, clock *fakeClock, name, code string) {
	t.Helper()
	c, _ := createWith(t, name, relay, clock)
	aSeen, err := c.AcceptInvite(t.Context(), code)
	if err != nil {
		t.Fatalf("%s: accept: %v", name, err)
	}
	if _, err := c.SendText(t.Context(), aSeen.ID, "hi from "+name, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, c, a, c)
	waitText(t, a, name, "hi from "+name)
	if _, err := a.SendText(t.Context(), name, "hi "+name, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a, c)
	waitText(t, c, aSeen.ID, "hi "+name)
}

// TestPrekeysYearOfRotations runs a profile through a year of daily
// prekey maintenance with an invite a day and two republishes of a
// contact's mailbox a day (1,095 republishes): the signed prekey and the
// last-resort key rotate every PrekeyRotation, retired ones are gone after
// PrekeyGrace, the one-time keys stay under a stated bound, and invites
// keep working, including one accepted before a rotation and answered
// after it (within the grace period).
func TestPrekeysYearOfRotations(t *testing.T) {
	// A year of invites in seconds is far above the relay's mailbox
	// creation rate, which is not what this test is about.
	limits := relay.DefaultLimits()
	limits.RegisterRate, limits.RegisterBurst = 1e6, 1e6
	limits.IPRegisterRate, limits.IPRegisterBurst = 1e6, 1e6
	relayDir := t.TempDir()
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: relayDir, Addr: "127.0.0.1:0", Limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	relay := r.URL()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	a, dir := createWith(t, "alice", relay, clock)
	b, _ := createWith(t, "bob", relay, clock)
	meet(t, a, b)
	contact, err := a.findContact("bob")
	if err != nil {
		t.Fatal(err)
	}

	// Invites (one a day, each valid a week and its keys kept PrekeyGrace
	// longer: at most 22 at once) and contacts (at most 8) bound the
	// one-time keys: at most 2 generations of 16 per invite and of 4 per
	// contact mailbox.
	const maxOneTime = 2*16*22 + 2*4*8
	const maxSigned = 1 + int(PrekeyGrace/PrekeyRotation) + 1
	republishes := 0
	accepted := 0
	start := clock.Now()
	for day := 1; day <= 365; day++ {
		clock.Advance(24 * time.Hour)
		if err := a.MaintainPrekeys(t.Context()); err != nil {
			t.Fatalf("day %d: maintain prekeys: %v", day, err)
		}
		inv, err := a.CreateInvite(t.Context(), InviteOptions{})
		if err != nil {
			t.Fatalf("day %d: create invite after %d republishes: %v", day, republishes, err)
		}
		republishes++
		for range 2 {
			a.mu.Lock()
			err := a.publishPrekeys(t.Context(), contact.Mine, contact.ID, 4)
			a.mu.Unlock()
			if err != nil {
				t.Fatalf("day %d: republish: %v", day, err)
			}
			republishes++
		}
		oneTime, signed, rotated := prekeyCounts(a)
		if oneTime > maxOneTime {
			t.Fatalf("day %d: %d one-time prekeys after %d republishes, want at most %d", day, oneTime, republishes, maxOneTime)
		}
		if signed > maxSigned {
			t.Fatalf("day %d: %d signed prekeys, want at most %d", day, signed, maxSigned)
		}
		if age := clock.Now().Sub(rotated); age > PrekeyRotation {
			t.Fatalf("day %d: signed prekey is %v old (rotated %v after start), want at most %v", day, age, rotated.Sub(start), PrekeyRotation)
		}
		if day%90 == 0 || day == 365 {
			accepted++
			acceptAndTalk(t, a, relay, clock, fmt.Sprintf("c%d", accepted), inv.Code)
		}
	}
	if republishes < 1000 {
		t.Fatalf("%d republishes, want at least 1000", republishes)
	}

	// An invite accepted just before a rotation and answered after it,
	// near the end of the grace period: the inviter is offline while the
	// acceptance waits in its mailbox, opens after the rotation is due
	// (rotated at start-up, before any mailbox is read) while the relay is
	// down, prunes nearly PrekeyGrace later, and only then reads it.
	_, _, rotated := prekeyCounts(a)
	clock.Advance(PrekeyRotation - clock.Now().Sub(rotated) - time.Hour)
	inv, err := a.CreateInvite(t.Context(), InviteOptions{Expires: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	g, _ := createWith(t, "grace", relay, clock)
	aSeen, err := g.AcceptInvite(t.Context(), inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.SendText(t.Context(), aSeen.ID, "in flight", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, g)
	r.Close()
	clock.Advance(2 * time.Hour)
	cfg := testConfig(dir, "", "")
	cfg.Now = clock.Now
	cfg.ExpiryInterval = time.Hour
	a2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a2.Close() })
	_, _, r2 := prekeyCounts(a2)
	if !r2.Equal(clock.Now().Truncate(time.Second)) {
		t.Fatalf("reopened after the rotation was due: rotated at %v, want %v", r2, clock.Now())
	}
	clock.Advance(PrekeyGrace - time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	a2.MaintainPrekeys(ctx) // prunes; publishing fails while the relay is down
	cancel()
	if _, signed, _ := prekeyCounts(a2); signed < 2 {
		t.Fatalf("%d signed prekeys within the grace period, want the retired one kept", signed)
	}
	u, err := url.Parse(relay)
	if err != nil {
		t.Fatal(err)
	}
	r, err = embedded.Start(t.Context(), embedded.Options{DataDir: relayDir, Addr: u.Host, Limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := a2.FindContact("grace"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the acceptance made before the rotation never arrived: %v", err)
		}
	}
	waitText(t, a2, "grace", "in flight")
	if _, err := a2.SendText(t.Context(), "grace", "answer", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a2, g)
	waitText(t, g, aSeen.ID, "answer")
	// The relay hands out the rotated bundle.
	inv2, err := a2.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acceptAndTalk(t, a2, relay, clock, "last", inv2.Code)
}
