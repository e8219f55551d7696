package messenger

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ephemera-im/ephemera/storage/vault"
)

// Restoring a backup brings back ratchet states that have since sent more
// messages: encrypting with them again would derive the same message keys
// (and the body nonce is fixed), so two messages would share a keystream
// and a Poly1305 key. As Signal archives sessions on restore, a restored
// profile retires every session before anything is encrypted:
//
//   - ExportBackup writes the setting setRestored into the vault for the
//     length of the export, so every backup holds it and the live vault
//     does not (a crash in between only costs a needless reset).
//   - Open, finding it, marks every contact ResetPending and deletes it,
//     in one transaction, before any mailbox is read.
//   - Nothing is encrypted for a ResetPending contact (encryptFor refuses;
//     canSend says ErrResetPending, so receipts are skipped and sends are
//     refused); each one gets a new session from its prekeys
//     (resetLocked) in the background, retried with backoff until their
//     relay answers. Sends wait until the relay has the new session's
//     hello (awaitHelloSent), so the contact never gets a message of the
//     new session before the hello. The contact sees a session reset and
//     the conversation goes on. Blocked contacts and contacts whose key
//     changed keep the flag until a ResetSession.
//
// A restore by copying an old profile folder, rather than through a
// backup, is not detected.
const setRestored = "restored"

// resetState is a contact's progress in renewing a restored session.
type resetState uint8

const (
	resetNeeded resetState = 1 // the restored session must not encrypt
	resetQueued resetState = 2 // the new session's hello waits in the outbox
)

// retireRestoredSessions marks every contact ResetPending if the vault is
// a restored backup. It runs in start, before any mailbox is read.
func (m *Messenger) retireRestoredSessions() error {
	return m.v.Update(func(t *vault.Tx) error {
		if _, err := t.Setting(setRestored); errors.Is(err, vault.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		cs, err := t.Contacts()
		if err != nil {
			return err
		}
		for _, vc := range cs {
			c, err := decodeContact(vc.Data)
			if err != nil {
				return err
			}
			c.ResetPending = resetNeeded
			if err := putContact(t, c); err != nil {
				return err
			}
		}
		m.log.Info("restored from a backup: every session will be renewed", "contacts", len(cs))
		return t.DeleteSetting(setRestored)
	})
}

// clearResetPending records, in t and in c, that a new session replaces
// the restored one: its hello may be encrypted, and the contact waits
// (resetQueued) until the hello is on the relay (awaitHelloSent), so that
// the contact sees the new session before anything sent in it. It
// reports whether it did. The previous session opens until prevUntil.
func clearResetPending(t *vault.Tx, c *contactRec, prevUntil time.Time) (bool, error) {
	if c.ResetPending != resetNeeded {
		return false, nil
	}
	cur, err := contactIn(t, c.ID)
	if err != nil {
		return false, err
	}
	cur.ResetPending, c.ResetPending = resetQueued, resetQueued
	cur.PrevUntil, c.PrevUntil = prevUntil, prevUntil
	return true, putContact(t, cur)
}

// awaitHelloSent lets sends to contact id go once the outbox holds
// nothing for it any more (the hello of its new session is on the relay).
func (m *Messenger) awaitHelloSent(id string) {
	m.pending.Add(1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.pending.Add(-1)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			entries, err := m.v.Outbox()
			if err == nil && !slices.ContainsFunc(entries, func(e vault.OutboxEntry) bool { return e.Contact == id }) {
				var pub Contact
				err = m.submit(&job{run: func(t *vault.Tx) error {
					c, err := contactIn(t, id)
					if errors.Is(err, ErrUnknownContact) {
						return nil
					}
					if err != nil || c.ResetPending != resetQueued {
						return err
					}
					c.ResetPending = 0
					pub = c.public()
					return putContact(t, c)
				}})
				if err == nil {
					if pub.ID != "" {
						m.hub.post(ContactChanged{Contact: pub})
					}
					return
				}
			}
			if err != nil && m.ctx.Err() == nil {
				m.log.Warn("waiting for a renewed session's hello to go out", "err", err)
			}
			select {
			case <-m.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// resumeResets renews, in the background, the sessions a restore left
// pending.
func (m *Messenger) resumeResets(contacts []*contactRec) {
	for _, c := range contacts {
		if c.ResetPending == resetQueued {
			m.awaitHelloSent(c.ID)
			continue
		}
		if c.ResetPending != resetNeeded || c.Blocked || len(c.KeyChanged) > 0 {
			continue
		}
		m.pending.Add(1)
		m.wg.Add(1)
		go func(id string) {
			defer m.wg.Done()
			defer m.pending.Add(-1)
			for attempt := 0; ; attempt++ {
				done, err := m.resetIfPending(id)
				if done || m.ctx.Err() != nil {
					return
				}
				m.log.Warn("renewing a restored session failed; retrying", "err", err)
				select {
				case <-m.ctx.Done():
					return
				case <-time.After(backoff(attempt)):
				}
			}
		}(c.ID)
	}
}

// resetIfPending resets the session with contact id if it is still
// pending; done is true once nothing is left to do.
func (m *Messenger) resetIfPending(id string) (done bool, err error) {
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	var c *contactRec
	err = m.v.View(func(t *vault.Tx) error {
		c, err = contactIn(t, id)
		return err
	})
	if errors.Is(err, ErrUnknownContact) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if c.ResetPending != resetNeeded || c.Blocked || len(c.KeyChanged) > 0 {
		return true, nil
	}
	err = m.resetLocked(ctx, c)
	return err == nil, err
}
