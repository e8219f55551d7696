package messenger

import (
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Every ratchet message is bound to the mailbox it is sent to, so that a
// relay moving an envelope to another of our mailboxes (an invite
// acceptance into a contact's mailbox, say) gets nothing read there. The
// associated data of a ratchet message (docs/PROTOCOL.md, "Associated data
// of ratchet messages") is
//
//	"ephemera message v2" ‖ 0x00 ‖ role (1 byte) ‖ mailbox id (32 bytes)
//
// A prekey message opens only under it, and session.Respond accepts a
// handshake only when its first message opens: the handshake is bound too.
const adLabel = "ephemera message v2"

// adLabelV1 is the associated data of protocol version 1, which bound
// nothing. Messages under it are never accepted; it only lets us tell the
// user that a contact runs an older version (see oldVersion).
var adLabelV1 = []byte("ephemera message v1")

// mailboxRole says what a mailbox is for; it is part of the associated
// data, so a message for an invite never counts on a contact's mailbox.
type mailboxRole byte

const (
	roleInvite  mailboxRole = 1 // an invite's mailbox: first messages of new contacts
	roleContact mailboxRole = 2 // the mailbox one contact writes to
)

// adSize is the length of messageAD's result.
const adSize = len(adLabel) + 1 + 1 + len(wire.MailboxID{})

// messageAD returns the associated data of ratchet messages sent to
// mailbox mb in role r.
func messageAD(r mailboxRole, mb wire.MailboxID) []byte {
	b := make([]byte, 0, adSize)
	b = append(b, adLabel...)
	b = append(b, 0, byte(r))
	return append(b, mb[:]...)
}

// theirsAD is the associated data of what we send to c now.
func theirsAD(c *contactRec) []byte {
	r := roleContact
	if c.Theirs.Invite {
		r = roleInvite
	}
	return messageAD(r, c.Theirs.ID)
}

// oldVersionHello reports whether ct is a first message made under
// protocol version 1's associated data. It changes no state: the prekey
// store is a copy and the session is dropped. Such messages are never
// acted on (a relay may have moved them); they are only reported.
func (m *Messenger) oldVersionHello(ct []byte) bool {
	store, err := clonePrekeys(m.prekeys)
	if err != nil {
		return false
	}
	_, _, err = session.Respond(m.keys, store, ct, adLabelV1, m.rand)
	return err == nil
}

// checkOldVersion handles a message on c's mailbox that neither c's
// session nor our prekeys read under this version's associated data: if
// it opens under version 1's (on a copy of the session, or a copy of the
// prekeys), c runs an older version; the conversation gets a notice
// once, and an event. Otherwise it is dropped silently.
func (m *Messenger) checkOldVersion(t *vault.Tx, r *received, c *contactRec, ct []byte) error {
	if c.OldVersion || !m.readsAsV1(t, c, ct) {
		m.log.Debug("dropping a message that does not decrypt")
		return nil
	}
	m.log.Info("ignored a message from a contact's older version of Ephemera")
	c.OldVersion = true
	if err := putContact(t, c); err != nil {
		return err
	}
	pm, err := m.addNotice(t, c, &noticeRec{Type: "old-version", By: c.ID}, message.Expiry{Timer: c.Timer})
	if err != nil {
		return err
	}
	r.events = append(r.events, OldVersionIgnored{Contact: c.ID}, MessageAdded{Message: pm})
	return nil
}

func (m *Messenger) readsAsV1(t *vault.Tx, c *contactRec, ct []byte) bool {
	if cur, err := m.sessionIn(t, c.ID); err == nil {
		var s session.Session
		if b, err := cur.MarshalBinary(); err == nil && s.UnmarshalBinary(b) == nil {
			if _, err := s.Decrypt(ct, adLabelV1); err == nil {
				return true
			}
		}
	}
	return m.oldVersionHello(ct)
}
