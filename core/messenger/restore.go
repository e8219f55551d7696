package messenger

import (
	"context"
	"errors"
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
//     relay answers. The contact sees a session reset and the
//     conversation goes on. Blocked contacts and contacts whose key
//     changed keep the flag until a ResetSession.
//
// A restore by copying an old profile folder, rather than through a
// backup, is not detected.
const setRestored = "restored"

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
			c.ResetPending = true
			if err := putContact(t, c); err != nil {
				return err
			}
		}
		m.log.Info("restored from a backup: every session will be renewed", "contacts", len(cs))
		return t.DeleteSetting(setRestored)
	})
}

// clearResetPending clears c's ResetPending, in t and in c, as a new
// session replaces the restored one.
func clearResetPending(t *vault.Tx, c *contactRec) error {
	if !c.ResetPending {
		return nil
	}
	cur, err := contactIn(t, c.ID)
	if err != nil {
		return err
	}
	cur.ResetPending, c.ResetPending = false, false
	return putContact(t, cur)
}

// resumeResets renews, in the background, the sessions a restore left
// pending.
func (m *Messenger) resumeResets(contacts []*contactRec) {
	for _, c := range contacts {
		if !c.ResetPending || c.Blocked || len(c.KeyChanged) > 0 {
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
	if !c.ResetPending || c.Blocked || len(c.KeyChanged) > 0 {
		return true, nil
	}
	err = m.resetLocked(ctx, c)
	return err == nil, err
}
