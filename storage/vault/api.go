package vault

import (
	"time"
)

// The methods below are the Tx methods of the same names, each in a
// transaction of its own. Use Update to make several changes at once.

// Profile returns the user's profile.
func (v *Vault) Profile() (p []byte, err error) {
	err = v.View(func(t *Tx) error { p, err = t.Profile(); return err })
	return p, err
}

// PutProfile replaces the user's profile.
func (v *Vault) PutProfile(data []byte) error {
	return v.Update(func(t *Tx) error { return t.PutProfile(data) })
}

// Setting returns a setting; ErrNotFound if unset.
func (v *Vault) Setting(name string) (b []byte, err error) {
	err = v.View(func(t *Tx) error { b, err = t.Setting(name); return err })
	return b, err
}

// PutSetting sets a setting.
func (v *Vault) PutSetting(name string, value []byte) error {
	return v.Update(func(t *Tx) error { return t.PutSetting(name, value) })
}

// DeleteSetting removes a setting.
func (v *Vault) DeleteSetting(name string) error {
	return v.Update(func(t *Tx) error { return t.DeleteSetting(name) })
}

// Identity returns an identity.
func (v *Vault) Identity(name string) (b []byte, err error) {
	err = v.View(func(t *Tx) error { b, err = t.Identity(name); return err })
	return b, err
}

// PutIdentity stores an identity.
func (v *Vault) PutIdentity(name string, data []byte) error {
	return v.Update(func(t *Tx) error { return t.PutIdentity(name, data) })
}

// DeleteIdentity removes an identity.
func (v *Vault) DeleteIdentity(name string) error {
	return v.Update(func(t *Tx) error { return t.DeleteIdentity(name) })
}

// Contact returns a contact.
func (v *Vault) Contact(id string) (c Contact, err error) {
	err = v.View(func(t *Tx) error { c, err = t.Contact(id); return err })
	return c, err
}

// PutContact adds or replaces a contact.
func (v *Vault) PutContact(c Contact) error {
	return v.Update(func(t *Tx) error { return t.PutContact(c) })
}

// DeleteContact removes a contact.
func (v *Vault) DeleteContact(id string) error {
	return v.Update(func(t *Tx) error { return t.DeleteContact(id) })
}

// Contacts returns every contact, ordered by id.
func (v *Vault) Contacts() (cs []Contact, err error) {
	err = v.View(func(t *Tx) error { cs, err = t.Contacts(); return err })
	return cs, err
}

// Session returns the session with a contact.
func (v *Vault) Session(contact string) (b []byte, err error) {
	err = v.View(func(t *Tx) error { b, err = t.Session(contact); return err })
	return b, err
}

// PutSession stores the session with a contact.
func (v *Vault) PutSession(contact string, state []byte) error {
	return v.Update(func(t *Tx) error { return t.PutSession(contact, state) })
}

// DeleteSession removes the session with a contact.
func (v *Vault) DeleteSession(contact string) error {
	return v.Update(func(t *Tx) error { return t.DeleteSession(contact) })
}

// AddMessage appends a message to its conversation.
func (v *Vault) AddMessage(m Message) (out Message, err error) {
	err = v.Update(func(t *Tx) error { out, err = t.AddMessage(m); return err })
	return out, err
}

// Message returns one message.
func (v *Vault) Message(conversation string, seq uint64) (m Message, err error) {
	err = v.View(func(t *Tx) error { m, err = t.Message(conversation, seq); return err })
	return m, err
}

// LastSeq returns the newest sequence number of a conversation.
func (v *Vault) LastSeq(conversation string) (seq uint64, err error) {
	err = v.View(func(t *Tx) error { seq, err = t.LastSeq(conversation); return err })
	return seq, err
}

// Messages returns a page of a conversation, newest first.
func (v *Vault) Messages(conversation string, before uint64, limit int) (ms []Message, err error) {
	err = v.View(func(t *Tx) error { ms, err = t.Messages(conversation, before, limit); return err })
	return ms, err
}

// SeqAt returns the sequence number of the oldest message of a
// conversation whose order time is at or after at; see Tx.SeqAt.
func (v *Vault) SeqAt(conversation string, at time.Time) (seq uint64, err error) {
	err = v.View(func(t *Tx) error { seq, err = t.SeqAt(conversation, at); return err })
	return seq, err
}

// MessagesBefore returns a page of a conversation's messages whose
// order time is before before, newest first; see Tx.MessagesBefore.
func (v *Vault) MessagesBefore(conversation string, before time.Time, limit int) (ms []Message, err error) {
	err = v.View(func(t *Tx) error { ms, err = t.MessagesBefore(conversation, before, limit); return err })
	return ms, err
}

// DeleteMessage removes a message and the attachments it owns.
func (v *Vault) DeleteMessage(conversation string, seq uint64) error {
	return v.Update(func(t *Tx) error { return t.DeleteMessage(conversation, seq) })
}

// OutboxAfter returns outbox entries after a sequence number; see
// Tx.OutboxAfter.
func (v *Vault) OutboxAfter(after uint64, limit int) (es []OutboxEntry, err error) {
	err = v.View(func(t *Tx) error { es, err = t.OutboxAfter(after, limit); return err })
	return es, err
}

// PutOutbox adds or replaces an outbox entry.
func (v *Vault) PutOutbox(e OutboxEntry) (seq uint64, err error) {
	err = v.Update(func(t *Tx) error { seq, err = t.PutOutbox(e); return err })
	return seq, err
}

// Outbox returns the outbox, oldest first.
func (v *Vault) Outbox() (es []OutboxEntry, err error) {
	err = v.View(func(t *Tx) error { es, err = t.Outbox(); return err })
	return es, err
}

// DeleteOutbox removes an outbox entry.
func (v *Vault) DeleteOutbox(seq uint64) error {
	return v.Update(func(t *Tx) error { return t.DeleteOutbox(seq) })
}

// ExpireDue expires every message whose expiry is at or before now and
// returns them (oldest expiry first) so the caller can tell the GUI. In
// one transaction it destroys their key slots in vault.keys (overwritten
// in place, one fsync), then deletes their records, so after it returns
// no file of the profile holds their keys and the passphrase no longer
// opens them; their ciphertext stays in bbolt's freed pages until
// Compact. Open runs it before returning and, with
// Options.ExpiryInterval, a timer runs it while unlocked. When nothing
// is due (known from the earliest expiry seen), it returns without a
// transaction. With Options.CompactEvery, it compacts once that many
// messages have expired since the last compaction.
func (v *Vault) ExpireDue(now time.Time) ([]Message, error) {
	msgs, err := v.expireDue(now)
	if err != nil {
		return nil, err
	}
	// Compact outside dueMu: Update takes dueMu (noteDue) under v.mu,
	// which Compact takes exclusively.
	if v.expired.Add(int64(len(msgs))); v.opts.CompactEvery > 0 && v.expired.Load() >= int64(v.opts.CompactEvery) {
		if err := v.Compact(); err != nil {
			return msgs, err
		}
	}
	return msgs, nil
}

func (v *Vault) expireDue(now time.Time) ([]Message, error) {
	n := timeToNanos(now)
	v.dueMu.Lock()
	defer v.dueMu.Unlock()
	if v.nextDue > n && !v.shredPending.Load() {
		if v.locked() {
			return nil, ErrLocked
		}
		return nil, nil
	}
	var msgs []Message
	var next int64
	err := v.Update(func(t *Tx) (err error) {
		msgs, next, err = t.expireDue(now)
		return err
	})
	if err != nil {
		return nil, err
	}
	v.nextDue = next
	if next == 0 {
		v.nextDue = int64(^uint64(0) >> 1) // nothing can expire until added
	}
	return msgs, nil
}

func (v *Vault) locked() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys == nil
}

// noteDue lowers the cached earliest expiry after a commit added one.
func (v *Vault) noteDue(n int64) {
	v.dueMu.Lock()
	defer v.dueMu.Unlock()
	if v.nextDue != 0 && n < v.nextDue { // 0: unknown, the next call scans anyway
		v.nextDue = n
	}
}
