package messenger

import (
	"encoding/json"
	"errors"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// ctlRefused tells someone who accepted one of our invites that no
// contact was made: the invite was one-time and already used, or it had
// expired. Data is a refusal. It is the only message such a sender ever
// gets from us, in the session their hello started.
const ctlRefused message.ControlType = 19

// Reasons of a refusal.
const (
	RefusedUsed    = "used"    // a one-time invite someone else used first
	RefusedExpired = "expired" // the invite had expired when its use arrived
)

type refusal struct {
	Reason string `json:"reason"`
}

var (
	errInviteUsed    = errors.New("one-time invite already used")
	errInviteExpired = errors.New("invite expired")
)

// maxRefusals bounds the refusals sent for one invite: whoever holds a
// used invite could otherwise make us send one for every hello they
// make (to a relay of their choice).
const maxRefusals = 8

// refuseHello queues a refusal for a hello that helloContact refused
// with errInviteUsed or errInviteExpired, to the mailbox the hello names.
// No contact is made and the session is not kept. Called inside the
// delivery's transaction.
func (m *Messenger) refuseHello(t *vault.Tx, inv *inviteRec, sess *session.Session, h hello, why error) error {
	reason := RefusedUsed
	if errors.Is(why, errInviteExpired) {
		reason = RefusedExpired
	}
	if h.Relay == "" || inv.Refused >= maxRefusals {
		return nil
	}
	b, err := identity.ParseBundle(h.Bundle)
	if err != nil {
		return nil
	}
	pk, err := b.EnvelopePublicKey()
	if err != nil {
		return nil
	}
	msg, err := message.New(&message.Control{Type: ctlRefused, Data: mustJSON(refusal{Reason: reason})}, message.Expiry{}, m.now(), m.rand)
	if err != nil {
		return err
	}
	pt, err := msg.Marshal()
	if err != nil {
		return err
	}
	sess.SetRand(m.rand)
	ct, err := sess.Encrypt(pt, messageAD(roleContact, h.Mailbox))
	if err != nil {
		return err
	}
	env, err := envelope.Seal(pk, ct)
	if err != nil {
		return err
	}
	inv.Refused++
	if err := t.PutSetting(setInvite+inv.ID, mustJSON(inv)); err != nil {
		return err
	}
	rec := outboxRec{Relay: h.Relay, Mailbox: h.Mailbox, Token: h.Token, Envelope: env, Created: m.now().UTC()}
	_, err = t.PutOutbox(vault.OutboxEntry{Data: rec.encode()})
	return err
}

// handleRefusal: the inviter refused our acceptance of its invite. The
// contact stays, marked Refused, with nothing more sent; what we wrote
// to it is marked failed.
func (m *Messenger) handleRefusal(t *vault.Tx, r *received, c *contactRec, ctl *message.Control) error {
	if !c.Initiator || c.Answered || c.Refused != "" {
		return nil
	}
	var rf refusal
	if json.Unmarshal(ctl.Data, &rf) != nil {
		return nil
	}
	if rf.Reason != RefusedUsed && rf.Reason != RefusedExpired {
		rf.Reason = "refused"
	}
	c.Refused = rf.Reason
	if err := putContact(t, c); err != nil {
		return err
	}
	outbox, err := t.Outbox()
	if err != nil {
		return err
	}
	for _, e := range outbox {
		if e.Contact == c.ID {
			if err := t.DeleteOutbox(e.Seq); err != nil {
				return err
			}
		}
	}
	last, err := t.LastSeq(c.ID)
	if err != nil {
		return err
	}
	for seq := uint64(1); seq <= last; seq++ {
		vm, err := t.Message(c.ID, seq)
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		rec, err := getJSON[msgRec](vm.Body, nil)
		if err != nil {
			return err
		}
		if !rec.Outgoing || rec.State == StateFailed {
			continue
		}
		rec.State = StateFailed
		vm.Body = mustJSON(rec)
		if err := t.UpdateMessage(vm); err != nil {
			return err
		}
		r.events = append(r.events, MessageUpdated{Message: publicMessage(vm, &rec)})
	}
	pm, err := m.addNotice(t, c, &noticeRec{Type: "invite-refused", By: c.ID, Reason: rf.Reason}, message.Expiry{Timer: c.Timer})
	if err != nil {
		return err
	}
	r.events = append(r.events, ContactChanged{Contact: c.public()}, MessageAdded{Message: pm},
		InviteRefused{Contact: c.public(), Reason: rf.Reason})
	return nil
}
