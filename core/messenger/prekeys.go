package messenger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Prekey schedule (docs/PROTOCOL.md §19, "Rotation").
const (
	// PrekeyRotation is the age at which the signed X25519 prekey and the
	// last-resort KEM key are replaced; it is checked at start-up and
	// every PrekeyCheckInterval against Config.Now.
	PrekeyRotation = 7 * 24 * time.Hour
	// PrekeyGrace is how long replaced keys (signed, last-resort, and one
	// generation of one-time keys per mailbox) still answer handshakes
	// that were started against them before they are destroyed.
	PrekeyGrace = 14 * 24 * time.Hour
	// PrekeyCheckInterval is how often an open messenger checks the
	// schedule.
	PrekeyCheckInterval = time.Hour

	orphanGroup = "" // one-time keys no mailbox accounts for (profiles made before tracking)
)

// ErrTooManyPrekeys: the prekey store is full (session.MaxOneTime) and a
// one-time invite cannot get its one-time key.
var ErrTooManyPrekeys = errors.New("messenger: too many open invites: the prekey store is full")

// prekeyGroup is the one-time keys published on one of our mailboxes:
// Cur is what the relay holds now (PutPrekeys replaces the list); Prev is
// the generation it replaced, kept until PrevUntil for claims in flight.
// Ids are the store's X25519 and KEM key ids. Rotated is the creation
// time of the signed prekey published with Cur: a mailbox whose Rotated is
// not the current one's is published again.
type prekeyGroup struct {
	Cur       []uint32  `json:"cur,omitempty"`
	Prev      []uint32  `json:"prev,omitempty"`
	PrevUntil time.Time `json:"prev_until,omitzero"`
	Rotated   time.Time `json:"rotated,omitzero"`
}

type prekeyState struct {
	groups map[string]*prekeyGroup // by mailbox id in hex
}

func (m *Messenger) loadPrekeyGroups() error {
	m.pk.groups = map[string]*prekeyGroup{}
	b, err := m.v.Identity(recPrekeyMailboxes)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("messenger: prekey mailboxes: %w", err)
	}
	if m.pk.groups, err = getJSON[map[string]*prekeyGroup](b, nil); err != nil {
		return fmt.Errorf("messenger: prekey mailboxes: %w", err)
	}
	return nil
}

// savePrekeys writes the store and its per-mailbox tracking together.
// Called with m.mu held.
func (m *Messenger) savePrekeys() error {
	pkb, err := m.prekeys.MarshalBinary()
	if err != nil {
		return err
	}
	gb := mustJSON(m.pk.groups)
	// Not m.update: callers may be inside an operation with queued output.
	return m.v.Update(func(t *vault.Tx) error {
		if err := t.PutIdentity(recPrekeys, pkb); err != nil {
			return err
		}
		return t.PutIdentity(recPrekeyMailboxes, gb)
	})
}

// newGeneration makes n one-time entries for mailbox key mb, replacing
// the ones published there before: those become the previous generation
// (kept PrekeyGrace), and the generation before that is destroyed. When
// the store is full n shrinks, down to none (claims then get the
// last-resort key); wantOne (a one-time invite) fails instead. Called
// with m.mu held; the caller saves.
func (m *Messenger) newGeneration(mb string, n int, wantOne bool) ([][]byte, error) {
	now := m.now()
	g := m.pk.groups[mb]
	if g == nil {
		g = &prekeyGroup{}
		m.pk.groups[mb] = g
	}
	m.prekeys.DeleteOneTime(g.Prev...)
	g.Prev, g.Cur = g.Cur, nil
	g.PrevUntil = now.Add(PrekeyGrace).UTC()
	g.Rotated = m.prekeys.Rotated()
	x, k := m.prekeys.OneTimeCount()
	n = max(0, min(n, session.MaxOneTime-max(x, k)))
	if wantOne && n == 0 {
		return nil, ErrTooManyPrekeys
	}
	entries, err := m.prekeys.AddOneTime(m.keys, m.rand, now, n)
	if err != nil {
		return nil, err
	}
	for _, b := range entries {
		e, err := session.ParseEntry(b)
		if err != nil {
			return nil, err
		}
		g.Cur = append(g.Cur, e.X25519ID, e.KEM.ID)
	}
	return entries, nil
}

// dropPrekeys destroys the one-time keys published on mailbox mb (its
// contact or invite is gone). Called with m.mu held; the caller saves.
func (m *Messenger) dropPrekeys(mb string) {
	if g := m.pk.groups[mb]; g != nil {
		m.prekeys.DeleteOneTime(g.Cur...)
		m.prekeys.DeleteOneTime(g.Prev...)
		delete(m.pk.groups, mb)
	}
}

// rotateIfDue replaces the signed and last-resort prekeys when the current
// ones are PrekeyRotation old, and destroys replaced ones past
// PrekeyGrace. It changes only memory and reports whether it changed
// anything (the caller saves); MaintainPrekeys publishes. Called with m.mu
// held.
func (m *Messenger) rotateIfDue() (bool, error) {
	now := m.now()
	x, k := m.prekeys.SignedCount()
	changed := m.prekeys.GracePeriod != PrekeyGrace
	m.prekeys.GracePeriod = PrekeyGrace
	if now.Sub(m.prekeys.Rotated()) >= PrekeyRotation {
		if _, err := m.prekeys.Rotate(m.keys, m.rand, now); err != nil {
			return false, fmt.Errorf("messenger: rotate prekeys: %w", err)
		}
		changed = true
	}
	m.prekeys.Prune(now)
	x2, k2 := m.prekeys.SignedCount()
	return changed || x2 != x || k2 != k, nil
}

// liveMailbox is one of our mailboxes that publishes prekeys.
type liveMailbox struct {
	mb      ownMailbox
	owner   string
	n       int
	wantOne bool
	publish bool
}

// MaintainPrekeys runs the prekey schedule now (it also runs at start-up
// and every PrekeyCheckInterval while open): it rotates the signed and
// last-resort prekeys when due, destroys keys past their grace period and
// the one-time keys of deleted contacts and of expired or used invites,
// and after a rotation publishes the new keys on every mailbox.
func (m *Messenger) MaintainPrekeys(ctx context.Context) error {
	// Read under mu: contacts and invites get their mailboxes' prekeys
	// with it held, so none is half made here.
	m.mu.Lock()
	defer m.mu.Unlock()
	contacts, err := m.contactRecs()
	if err != nil {
		return err
	}
	invites, err := m.inviteRecs()
	if err != nil {
		return err
	}
	now := m.now()
	live := map[string]liveMailbox{}
	for _, c := range contacts {
		live[hex.EncodeToString(c.Mine.ID[:])] = liveMailbox{mb: c.Mine, owner: c.ID, n: 4, publish: !c.Blocked}
	}
	for _, inv := range invites {
		// An expired or used invite's keys stay PrekeyGrace longer (not
		// published again), so late acceptances can still be read and
		// refused (refuse.go).
		if !inv.Expires.Add(PrekeyGrace).After(now) {
			continue
		}
		open := inv.Expires.After(now) && !(inv.OneTime && inv.Used > 0)
		l := liveMailbox{mb: inv.Mailbox, owner: "invite:" + inv.ID, n: 16, publish: open}
		if inv.OneTime {
			l.n, l.wantOne = 1, true
		}
		live[hex.EncodeToString(inv.Mailbox.ID[:])] = l
	}
	tracked := map[uint32]bool{}
	dirty := false
	for mb, g := range m.pk.groups {
		if _, ok := live[mb]; !ok && mb != orphanGroup {
			m.dropPrekeys(mb)
			dirty = true
			continue
		}
		if len(g.Prev) > 0 && !now.Before(g.PrevUntil) {
			m.prekeys.DeleteOneTime(g.Prev...)
			g.Prev, g.PrevUntil = nil, time.Time{}
			dirty = true
		}
		if mb == orphanGroup && len(g.Prev) == 0 {
			delete(m.pk.groups, mb)
			dirty = true
			continue
		}
		for _, id := range append(g.Cur, g.Prev...) {
			tracked[id] = true
		}
	}
	// Keys no mailbox accounts for (made before this tracking) may still
	// be published somewhere: they get one grace period, then go.
	var orphans []uint32
	for _, id := range m.prekeys.OneTimeIDs() {
		if !tracked[id] {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) > 0 {
		g := m.pk.groups[orphanGroup]
		if g == nil {
			g = &prekeyGroup{}
			m.pk.groups[orphanGroup] = g
		}
		g.Prev, g.PrevUntil = append(g.Prev, orphans...), now.Add(PrekeyGrace).UTC()
		dirty = true
	}
	rotated, err := m.rotateIfDue()
	if err != nil {
		return err
	}
	if rotated || dirty {
		if err := m.savePrekeys(); err != nil {
			return err
		}
	}
	// Publish where the relay does not have the current keys yet: after a
	// rotation, after a failed publish, and on mailboxes made before this
	// tracking.
	cur := m.prekeys.Rotated()
	var errs []error
	for mb, l := range live {
		if g := m.pk.groups[mb]; !l.publish || g != nil && g.Rotated.Equal(cur) {
			continue
		}
		if err := m.publishPrekeysN(ctx, l.mb, l.owner, l.n, l.wantOne); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// prekeyLoop runs the prekey schedule at start-up and every
// PrekeyCheckInterval.
func (m *Messenger) prekeyLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(PrekeyCheckInterval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(m.ctx, 5*time.Minute)
		err := m.MaintainPrekeys(ctx)
		cancel()
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("prekey maintenance failed; retrying later", "err", err)
		}
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
	}
}
