package messenger

import (
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/wsconn"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// keepPreviousFor bounds how long a session renewed after a restore still
// opens messages of the session it replaced (contactRec.PrevUntil): the
// first message in the new session ends it sooner (session.Decrypt).
const keepPreviousFor = 7 * 24 * time.Hour

// decryptFrom decrypts a message from contact c in sess, once the time
// for the previous session (PrevUntil) is over without it.
func (m *Messenger) decryptFrom(c *contactRec, sess *session.Session, ct, ad []byte) ([]byte, error) {
	if sess.HasPrevious() && (c.PrevUntil.IsZero() || !m.now().Before(c.PrevUntil)) {
		sess.DropPrevious()
	}
	return sess.Decrypt(ct, ad)
}

// ResetSession starts a new session with a contact, from the prekeys on
// their mailbox for us. Their side accepts it silently when it comes from
// the identity they know, and stops sending (KeyChanged) when not.
func (m *Messenger) ResetSession(ctx context.Context, name string) error {
	c, err := m.findContact(name)
	if err != nil {
		return err
	}
	if c.Blocked {
		return ErrBlocked
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resetLocked(ctx, c)
}

func (m *Messenger) resetLocked(ctx context.Context, c *contactRec) error {
	rc, err := m.sendConn(m.resolve(c.Theirs.Relay), c.Theirs.ID)
	if err != nil {
		return err
	}
	peer, prekey, entry, err := claimPrekey(ctx, rc, c.Theirs.ID, c.Theirs.Token)
	if err != nil {
		return fmt.Errorf("messenger: claim the prekey of contact %s: %w", c.ID, err)
	}
	known := c.Bundle
	if len(c.KeyChanged) > 0 {
		known = c.KeyChanged
	}
	kb, err := identity.ParseBundle(known)
	if err != nil {
		return err
	}
	if !ed25519Equal(kb.SigningKey, peer.SigningKey) || !bytesEqual(kb.DHKey, peer.DHKey) {
		return fmt.Errorf("messenger: the relay's keys for contact %s are not the ones we know", c.ID)
	}
	dh, err := ecdh.X25519().NewPublicKey(peer.DHKey)
	if err != nil {
		return err
	}
	sess, err := session.Initiate(m.keys, session.PublicIdentity{Signing: peer.SigningKey, DH: dh}, prekey, entry, m.rand)
	if err != nil {
		return err
	}
	h := hello{Bundle: m.id.Bundle().Marshal(), Relay: c.Mine.Relay, Mailbox: c.Mine.ID, Token: c.Mine.Token}
	var notice Message
	renewed := false
	err = m.update(func(t *vault.Tx) error {
		var err error
		if renewed, err = clearResetPending(t, c, m.now().Add(keepPreviousFor)); err != nil {
			return err
		}
		// Renewing after a restore, what the contact sent in the old
		// session before learning of this one still opens, for a while;
		// nothing is encrypted with it again. A reset the user asks for
		// keeps nothing: it must shut out whoever holds the old state.
		if renewed {
			if old, err := m.sessionIn(t, c.ID); err == nil {
				sess.KeepPrevious(old)
			} else if !errors.Is(err, vault.ErrNotFound) {
				return err
			}
		}
		if _, err := m.queueWith(t, c, sess, &message.Control{Type: ctlHello, Data: mustJSON(h)}, message.Expiry{}, nil); err != nil {
			return err
		}
		notice, err = m.addNotice(t, c, &noticeRec{Type: "reset", By: "me"}, message.Expiry{Timer: c.Timer})
		return err
	})
	if err != nil {
		return err
	}
	if renewed {
		m.awaitHelloSent(c.ID)
	}
	m.wakeOutbox()
	m.hub.post(MessageAdded{Message: notice})
	return nil
}

// ResetIdentity replaces this profile's identity keys (after a suspected
// compromise, say) and restarts the session with every contact. Contacts
// see a changed safety number and must accept it before they can write
// again.
func (m *Messenger) ResetIdentity(ctx context.Context) error {
	contacts, err := m.contactRecs()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id, err := identity.Generate(m.rand, m.id.Pseudonym())
	if err != nil {
		return err
	}
	keys := session.Identity{Signing: id.SigningKey(), DH: id.DHKey()}
	store, _, err := session.NewPrekeys(keys, m.rand, m.now(), 0)
	if err != nil {
		return err
	}
	idb, err := id.MarshalBinary()
	if err != nil {
		return err
	}
	pkb, err := store.MarshalBinary()
	if err != nil {
		return err
	}
	err = m.update(func(t *vault.Tx) error {
		if err := t.PutIdentity(recIdentity, idb); err != nil {
			return err
		}
		if err := t.PutIdentity(recPrekeys, pkb); err != nil {
			return err
		}
		// The new store numbers its keys afresh: the old tracking is void.
		return t.PutIdentity(recPrekeyMailboxes, mustJSON(map[string]*prekeyGroup{}))
	})
	if err != nil {
		return err
	}
	m.id, m.keys, m.prekeys = id, keys, store
	m.pk.groups = map[string]*prekeyGroup{}
	var errs []error
	for _, c := range contacts {
		if c.Blocked {
			continue
		}
		// New keys on our mailbox, so their resets reach the new identity.
		if err := m.publishPrekeys(ctx, c.Mine, c.ID, 4); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := m.resetLocked(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MoveRelay moves this profile to another relay: every contact gets a new
// mailbox there and is told through its session; the old mailboxes are
// still read until Close, for what was already on its way. New invites use
// the new relay.
func (m *Messenger) MoveRelay(ctx context.Context, relayURL string) error {
	u, err := wsconn.NormalizeURL(relayURL)
	if err != nil {
		return fmt.Errorf("messenger: relay: %w", err)
	}
	contacts, err := m.contactRecs()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prof.RelayURL = u
	if err := m.v.PutProfile(mustJSON(m.prof)); err != nil {
		return err
	}
	var errs []error
	for _, c := range contacts {
		mb, err := m.newMailbox()
		if err != nil {
			return err
		}
		if err := m.publishPrekeys(ctx, mb, c.ID, 4); err != nil {
			errs = append(errs, err)
			continue
		}
		m.owners[mb.ID] = c.ID
		h := hello{Relay: mb.Relay, Mailbox: mb.ID, Token: mb.Token}
		var notice Message
		err = m.update(func(t *vault.Tx) error {
			cur, err := contactIn(t, c.ID)
			if err != nil {
				return err
			}
			if cur.canSend() == nil {
				if _, err := m.queueWith(t, cur, nil, &message.Control{Type: ctlMoved, Data: mustJSON(h)}, message.Expiry{}, nil); err != nil {
					return err
				}
			}
			cur.Mine = mb
			if err := putContact(t, cur); err != nil {
				return err
			}
			notice, err = m.addNotice(t, cur, &noticeRec{Type: "moved", By: "me"}, message.Expiry{Timer: cur.Timer})
			return err
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.hub.post(MessageAdded{Message: notice})
	}
	m.wakeOutbox()
	return errors.Join(errs...)
}
