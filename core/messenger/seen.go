package messenger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ephemera-im/ephemera/storage/vault"
)

// What was received is remembered, to drop redeliveries and replays, in
// one record per scope (an owner of a mailbox: a contact id, or "invite:"
// and an invite id), for envelopes (digests), for message ids and for the
// ids of handshakes' first messages (those of other identities on a
// contact's mailbox apart, in scope "req:" and the contact id), rather
// than one record per envelope or message: a record per item could not be
// listed (the vault's keys are hashed), so it could never be pruned, and
// the number of them would tell whoever later opens the vault how many
// messages each contact sent long after the messages expired.
//
// Bounds: a set holds at most maxSeen entries (the oldest go first) and
// entries older than seenTTL (the relay's longest envelope lifetime, 30
// days, and a day's margin) are dropped whenever the set is written, and
// for every scope at start-up and at most once an hour while open
// (pruneSeen). An envelope or message older than that which comes again
// is still refused by the ratchet (its message key is gone).
const (
	maxSeen = 4096
	seenTTL = 31 * 24 * time.Hour

	setSeenScopes  = "seen/scopes" // setting: []string of scopes with seen sets
	seenPruneEvery = time.Hour
)

// seenEntry is one remembered item: the first 16 bytes of a digest or a
// message id, and when it was seen.
type seenEntry struct {
	key  [16]byte
	unix int64
}

// seenSet is one scope's set, loaded once per transaction.
type seenSet struct {
	name    string
	entries []seenEntry // oldest first
	index   map[[16]byte]bool
	dirty   bool
}

func encodeSeen(es []seenEntry) []byte {
	b := make([]byte, 0, len(es)*24)
	for _, e := range es {
		b = append(b, e.key[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.unix))
	}
	return b
}

func decodeSeen(b []byte) ([]seenEntry, error) {
	if len(b)%24 != 0 || len(b)/24 > maxSeen {
		return nil, fmt.Errorf("messenger: %w: seen set of %d bytes", vault.ErrCorrupt, len(b))
	}
	es := make([]seenEntry, len(b)/24)
	for i := range es {
		copy(es[i].key[:], b[24*i:])
		es[i].unix = int64(binary.BigEndian.Uint64(b[24*i+16:]))
	}
	return es, nil
}

// seenSets caches the sets a transaction reads; flush writes back those it
// changed.
type seenSets struct {
	sets map[string]*seenSet
}

func (s *seenSets) get(t *vault.Tx, name string) (*seenSet, error) {
	if set := s.sets[name]; set != nil {
		return set, nil
	}
	b, err := t.Setting(name)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, err
	}
	es, err := decodeSeen(b)
	if err != nil {
		return nil, err
	}
	set := &seenSet{name: name, entries: es, index: make(map[[16]byte]bool, len(es))}
	for _, e := range es {
		set.index[e.key] = true
	}
	if s.sets == nil {
		s.sets = map[string]*seenSet{}
	}
	s.sets[name] = set
	return set, nil
}

// seen reports whether key was seen before in set name (setSeenEnv,
// setSeenMsg or setSeenHS, and a scope), and remembers it if not.
func (s *seenSets) seen(t *vault.Tx, name string, key []byte, now time.Time) (bool, error) {
	set, err := s.get(t, name)
	if err != nil {
		return false, err
	}
	var k [16]byte
	copy(k[:], key)
	if set.index[k] {
		return true, nil
	}
	set.index[k] = true
	set.entries = append(set.entries, seenEntry{key: k, unix: now.Unix()})
	set.dirty = true
	return false, nil
}

// flush writes back the changed sets, pruned, and records their scopes.
func (s *seenSets) flush(t *vault.Tx, now time.Time) error {
	var names []string
	for name, set := range s.sets {
		if set.dirty {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	scopes, err := getJSON[[]string](t.Setting(setSeenScopes))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	added := false
	for _, name := range names {
		if err := writeSeen(t, name, s.sets[name].entries, now); err != nil {
			return err
		}
		if !slices.Contains(scopes, name) {
			scopes, added = append(scopes, name), true
		}
	}
	clear(s.sets)
	if added {
		return t.PutSetting(setSeenScopes, mustJSON(scopes))
	}
	return nil
}

// writeSeen stores set name's entries that are not expired, the newest
// maxSeen of them; an empty set is deleted.
func writeSeen(t *vault.Tx, name string, es []seenEntry, now time.Time) error {
	cut := now.Add(-seenTTL).Unix()
	i := 0
	for i < len(es) && es[i].unix < cut {
		i++
	}
	es = es[i:]
	if len(es) > maxSeen {
		es = es[len(es)-maxSeen:]
	}
	if len(es) == 0 {
		return t.DeleteSetting(name)
	}
	return t.PutSetting(name, encodeSeen(es))
}

// maybePruneSeen prunes the seen sets if seenPruneEvery has passed by
// m's clock since the last time (or force). It runs through the writer.
func (m *Messenger) maybePruneSeen(force bool) error {
	now := m.now()
	if last := m.seenPruned.Load(); !force && last != 0 && now.Sub(time.Unix(0, last)) < seenPruneEvery {
		return nil
	}
	m.seenPruned.Store(now.UnixNano())
	return m.submit(&job{run: func(t *vault.Tx) error { return pruneSeen(t, now) }})
}

// pruneSeen drops expired entries from every seen set (and forgets empty
// sets), and expired held preview claims (preview.go).
func pruneSeen(t *vault.Tx, now time.Time) error {
	if err := pruneAllHeld(t, now); err != nil {
		return err
	}
	scopes, err := getJSON[[]string](t.Setting(setSeenScopes))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	kept := scopes[:0]
	for _, name := range scopes {
		b, err := t.Setting(name)
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		es, err := decodeSeen(b)
		if err != nil {
			return err
		}
		if err := writeSeen(t, name, es, now); err != nil {
			return err
		}
		if _, err := t.Setting(name); err == nil {
			kept = append(kept, name)
		}
	}
	return t.PutSetting(setSeenScopes, mustJSON(kept))
}
