package messenger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// receiveLoop handles what one relay connection delivers, in batches:
// every envelope available at once is processed in one vault transaction
// and acknowledged after it commits, so a crash in between means a
// redelivery, which is recognised (by the envelope's digest) and dropped.
func (m *Messenger) receiveLoop(rc *relayConn) {
	defer m.wg.Done()
	m.wg.Add(1)
	go m.ackLoop(rc)
	for d := range rc.client.Deliveries() {
		if testHookReceiveBatch != nil {
			testHookReceiveBatch(m, rc.client.Deliveries())
		}
		batch := []relayclient.Delivery{d}
	drain:
		for len(batch) < 128 {
			select {
			case d, ok := <-rc.client.Deliveries():
				if !ok {
					break drain
				}
				batch = append(batch, d)
			default:
				break drain
			}
		}
		m.lastActivity.Store(time.Now().UnixNano())
		m.handleBatch(rc, batch)
		m.lastActivity.Store(time.Now().UnixNano())
	}
}

// ackLoop sends the acknowledgements of stored batches, merging those
// that queue up while one is in flight.
func (m *Messenger) ackLoop(rc *relayConn) {
	defer m.wg.Done()
	for {
		var acks map[wire.MailboxID][]uint64
		select {
		case <-m.ctx.Done():
			return
		case acks = <-rc.acks:
		}
	merge:
		for {
			select {
			case more := <-rc.acks:
				for mb, seqs := range more {
					acks[mb] = append(acks[mb], seqs...)
				}
			default:
				break merge
			}
		}
		for mb, seqs := range acks {
			for len(seqs) > 0 {
				n := min(len(seqs), 1024)
				ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
				if err := rc.client.Ack(ctx, mb, seqs[:n]...); err != nil {
					m.log.Debug("ack failed; the envelopes will come again", "err", err)
				}
				cancel()
				seqs = seqs[n:]
			}
		}
	}
}

// received collects a batch's effects, reported after it commits.
type received struct {
	seen     seenSets // envelopes and messages already handled, by scope
	events   []Event
	receipts map[string][]message.ID // contact → ids to acknowledge
	watch    []*contactRec           // new contacts whose mailboxes to read
	acks     map[wire.MailboxID][]uint64
	download []string // message ids of files to fetch
	wake     bool     // something was put in the outbox directly
}

// handleBatch stores a batch of deliveries (at most 128 envelopes) in one
// transaction and queues their delivery receipts, 256 ids per receipt.
// The receipts are bounded by the batch (at most 128 × 1024 ids, 512
// receipts) and flushOut packs them into as many envelopes as they need,
// so a large batch never fails for want of room in one envelope.
func (m *Messenger) handleBatch(rc *relayConn, batch []relayclient.Delivery) {
	var r *received
	err := m.submit(&job{run: func(t *vault.Tx) error {
		r = &received{receipts: map[string][]message.ID{}, acks: map[wire.MailboxID][]uint64{}}
		for _, d := range batch {
			if err := m.handleDelivery(t, r, d); err != nil {
				return err
			}
			r.acks[d.Mailbox] = append(r.acks[d.Mailbox], d.Seq)
		}
		if err := r.seen.flush(t, m.now()); err != nil {
			return err
		}
		for cid, ids := range r.receipts {
			c, err := contactIn(t, cid)
			if err != nil || c.canSend() != nil {
				continue
			}
			for len(ids) > 0 {
				n := min(len(ids), 256)
				if _, err := m.queueWith(t, c, nil, message.Receipt(message.ControlDelivered, ids[:n]...), message.Expiry{}, nil); err != nil {
					return err
				}
				ids = ids[n:]
			}
		}
		return nil
	}, committed: func() {
		for _, c := range r.watch {
			m.owners[c.Mine.ID] = c.ID
		}
	}})
	if errors.Is(err, ErrClosed) {
		// Closing: the writer may still be running the job, so r is
		// not ours to read; nothing was acknowledged.
		return
	}
	if err != nil && r != nil {
		for _, c := range r.watch {
			m.hold.Delete(c.ID)
		}
	}
	if err != nil {
		// Nothing was stored and nothing is acknowledged: the relay
		// delivers the batch again after a reconnect.
		m.log.Warn("storing received messages failed", "err", err)
		return
	}
	for _, c := range r.watch {
		m.adopt(c)
	}
	if testHookReceived != nil {
		testHookReceived()
	}
	// Acknowledge in the background: the next batch need not wait for the
	// relay's commit. A lost ack only means a redelivery, which is dropped.
	select {
	case rc.acks <- r.acks:
	case <-m.ctx.Done():
	}
	if len(r.receipts) > 0 || r.wake {
		m.wakeOutbox()
	}
	for _, e := range r.events {
		m.hub.post(e)
	}
	for _, id := range r.download {
		m.queueDownload(id)
	}
}

// adopt registers a new contact's mailbox and publishes prekeys on it
// (for session resets), then lets messages to the contact go out.
func (m *Messenger) adopt(c *contactRec) {
	m.pending.Add(1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.pending.Add(-1)
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			m.mu.Lock()
			err := m.publishPrekeys(ctx, c.Mine, c.ID, 4)
			m.mu.Unlock()
			cancel()
			if err == nil || m.ctx.Err() != nil {
				m.hold.Delete(c.ID)
				m.wakeOutbox()
				return
			}
			m.log.Warn("registering a new contact's mailbox failed; retrying", "err", err)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff(attempt)):
			}
		}
	}()
}

// handleDelivery processes one envelope inside the batch's transaction.
// Envelopes that cannot be read are dropped (and acknowledged): they are
// forgeries, duplicates or for a deleted contact. Only vault errors abort.
func (m *Messenger) handleDelivery(t *vault.Tx, r *received, d relayclient.Delivery) error {
	owner, ok := m.owners[d.Mailbox]
	if !ok {
		return nil
	}
	digest := sha256.Sum256(d.Envelope)
	seen, err := r.seen.get(t, setSeenEnv+owner)
	if err != nil {
		return err
	}
	if seen.index[[16]byte(digest[:16])] {
		return nil // handled before; its ack was lost
	}
	payload, err := envelope.Open(m.id.EnvelopeKey(), d.Envelope)
	if err != nil {
		m.log.Debug("dropping an envelope that does not open", "err", err)
		return nil
	}
	if _, err := r.seen.seen(t, setSeenEnv+owner, digest[:16], m.now()); err != nil {
		return err
	}
	parts, err := splitBatch(payload)
	if err != nil {
		m.log.Debug("dropping an envelope", "err", err)
		return nil
	}
	for _, ct := range parts {
		if err := m.handleRatchetMessage(t, r, owner, d.Mailbox, ct); err != nil {
			return err
		}
	}
	return nil
}

// handleRatchetMessage processes one ratchet message that came to our
// mailbox mb (owner: a contact id or "invite:" and an invite id). It is
// read only under the associated data of that mailbox and its role, so a
// message the relay moved from another mailbox is dropped.
func (m *Messenger) handleRatchetMessage(t *vault.Tx, r *received, owner string, mb wire.MailboxID, ct []byte) error {
	if inviteID, ok := strings.CutPrefix(owner, "invite:"); ok {
		return m.handleInviteEnvelope(t, r, inviteID, messageAD(roleInvite, mb), ct)
	}
	c, err := contactIn(t, owner)
	if errors.Is(err, ErrUnknownContact) {
		return nil
	}
	if err != nil {
		return err
	}
	sess, err := m.sessionIn(t, c.ID)
	if err != nil {
		return err
	}
	ad := messageAD(roleContact, mb)
	pt, err := m.decryptFrom(c, sess, ct, ad)
	if err != nil {
		// Perhaps a new session: a reset from the contact, started from
		// the prekeys on our mailbox for them, or another identity's
		// request.
		return m.handleReset(t, r, c, ad, ct)
	}
	if c.OldVersion {
		c.OldVersion = false
		if err := putContact(t, c); err != nil {
			return err
		}
	}
	if err := m.putSession(t, c.ID, sess); err != nil {
		return err
	}
	return m.handlePlaintext(t, r, c, pt)
}

// putSession records that a session changed; it is written to the vault
// once, at the end of the transaction (flushOut).
func (m *Messenger) putSession(t *vault.Tx, id string, s *session.Session) error {
	m.sessions[id] = s
	m.dirty[id] = s
	return nil
}

func (m *Messenger) writeSession(t *vault.Tx, id string, s *session.Session) error {
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	return t.PutSession(id, b)
}

// handleInviteEnvelope: a first message to one of our invites.
func (m *Messenger) handleInviteEnvelope(t *vault.Tx, r *received, inviteID string, ad, ct []byte) error {
	inv, err := getJSON[inviteRec](t.Setting(setInvite + inviteID))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// A contact who came through this invite may still write here until
	// our answer reaches them.
	contacts, err := t.Contacts()
	if err != nil {
		return err
	}
	for _, vc := range contacts {
		var c contactRec
		if json.Unmarshal(vc.Data, &c) != nil || c.Invite != inviteID || c.Initiator {
			continue
		}
		sess, err := m.sessionIn(t, c.ID)
		if err != nil {
			continue
		}
		if pt, err := sess.Decrypt(ct, ad); err == nil {
			if err := m.putSession(t, c.ID, sess); err != nil {
				return err
			}
			return m.handlePlaintext(t, r, &c, pt)
		}
	}
	store, err := clonePrekeys(m.prekeys)
	if err != nil {
		return err
	}
	sess, pt, err := session.Respond(m.keys, store, ct, ad, m.rand)
	if err != nil {
		if m.oldVersionHello(ct) {
			m.log.Info("ignored an answer to an invite from an older version of Ephemera")
			r.events = append(r.events, OldVersionIgnored{Invite: inviteID})
			return nil
		}
		m.log.Debug("dropping a first message that does not decrypt", "err", err)
		return nil
	}
	msg, h, ok := parseHello(pt)
	if !ok {
		return nil
	}
	if fresh, err := r.firstHandshake(t, "invite:"+inviteID, "", msg.ID, m.now()); err != nil || !fresh {
		return err // a replayed handshake
	}
	c, err := m.helloContact(t, &inv, sess, h)
	if errors.Is(err, errInviteUsed) || errors.Is(err, errInviteExpired) {
		m.log.Info("refused a contact request", "reason", err)
		// They are told, so their side does not wait for an answer.
		r.wake = true
		return m.refuseHello(t, &inv, sess, h, err)
	}
	if err != nil {
		m.log.Info("refused a contact request", "reason", err)
		return nil
	}
	pkb, err := store.MarshalBinary()
	if err != nil {
		return err
	}
	if err := t.PutIdentity(recPrekeys, pkb); err != nil {
		return err
	}
	m.prekeys = store // committed with the transaction; on failure the batch is redone
	m.hold.Store(c.ID, true)
	r.watch = append(r.watch, c)
	r.events = append(r.events, ContactChanged{Contact: c.public()})
	return nil
}

// handleReset: a message on a contact's mailbox that its session cannot
// read. If it starts a new session from our prekeys for this mailbox (its
// associated data names the mailbox and its role), by the contact's
// identity it is a reset. By another identity it is a request: kept
// apart until the user accepts it (AcceptKeyChange), and nothing of the
// conversation (identity, session, mailbox) changes before.
func (m *Messenger) handleReset(t *vault.Tx, r *received, c *contactRec, ad, ct []byte) error {
	if c.Blocked {
		return nil // what a blocked contact sends is dropped, new sessions too
	}
	store, err := clonePrekeys(m.prekeys)
	if err != nil {
		return err
	}
	sess, pt, err := session.Respond(m.keys, store, ct, ad, m.rand)
	if err != nil {
		return m.checkOldVersion(t, r, c, ct)
	}
	msg, h, ok := parseHello(pt)
	if !ok || h.Relay == "" {
		return nil
	}
	b, err := identity.ParseBundle(h.Bundle)
	if err != nil {
		return nil
	}
	peer := sess.Peer()
	if !ed25519Equal(b.SigningKey, peer.Signing) || !bytesEqual(b.DHKey, peer.DH.Bytes()) {
		return nil
	}
	old, err := identity.ParseBundle(c.Bundle)
	if err != nil {
		return err
	}
	same := ed25519Equal(old.SigningKey, b.SigningKey) && bytesEqual(old.DHKey, b.DHKey)
	// A handshake acts once: a replay (of a reset made with the
	// last-resort key, which the prekeys cannot refuse) changes nothing.
	// Other identities' handshakes are remembered apart, so that a flood
	// of them cannot push the contact's own out of its bounded set.
	mine, others := c.ID, "req:"+c.ID
	if !same {
		mine, others = others, mine
	}
	if fresh, err := r.firstHandshake(t, mine, others, msg.ID, m.now()); err != nil || !fresh {
		return err
	}
	theirs := peerMailbox{Relay: h.Relay, ID: h.Mailbox, Token: h.Token}
	var notice *noticeRec
	if same {
		c.Bundle = b.Marshal() // same keys, perhaps a new pseudonym or envelope key
		c.Theirs = theirs
		c.Answered = true
		if c.ResetPending == resetNeeded {
			c.ResetPending = 0 // their new session replaces the restored one
		}
		if err := m.putSession(t, c.ID, sess); err != nil {
			return err
		}
		notice = &noticeRec{Type: "reset", By: c.ID}
	} else {
		sb, err := sess.MarshalBinary()
		if err != nil {
			return err
		}
		if err := t.PutSession(pendingSession(c.ID), sb); err != nil {
			return err
		}
		// Anyone (the relay too) can make requests without end. A request
		// when none is pending (the first, or the next after the user
		// declined one) is always shown: the user's own answers bound
		// those. While one is pending, only a new requester adds a
		// notice, at most one per contact per requestNoticeEvery; the
		// others only replace the pending request.
		now := m.now()
		hourly := c.RequestNoticed.IsZero() || now.Sub(c.RequestNoticed) >= requestNoticeEvery || now.Before(c.RequestNoticed)
		if len(c.KeyChanged) == 0 || (!sameRequester(c.KeyChanged, b) && hourly) {
			c.RequestNoticed = now.UTC()
			notice = &noticeRec{Type: "key-request", By: c.ID}
		}
		c.KeyChanged, c.RequestTheirs = b.Marshal(), &theirs
		if notice != nil {
			r.events = append(r.events, IdentityRequest{Contact: c.public(), Pseudonym: b.Pseudonym})
		}
	}
	if err := putContact(t, c); err != nil {
		return err
	}
	pkb, err := store.MarshalBinary()
	if err != nil {
		return err
	}
	if err := t.PutIdentity(recPrekeys, pkb); err != nil {
		return err
	}
	m.prekeys = store
	r.events = append(r.events, ContactChanged{Contact: c.public()})
	if notice == nil {
		return nil
	}
	pm, err := m.addNotice(t, c, notice, message.Expiry{Timer: c.Timer})
	if err != nil {
		return err
	}
	r.events = append(r.events, MessageAdded{Message: pm})
	return nil
}

// requestNoticeEvery is the least time between two notices of identity
// requests on one contact's mailbox: what bounds the notices, events
// and vault records an outsider's handshakes add.
const requestNoticeEvery = time.Hour

// sameRequester reports whether the pending request (a bundle, or
// nothing) is by b's identity.
func sameRequester(pending []byte, b *identity.Bundle) bool {
	if len(pending) == 0 {
		return false
	}
	p, err := identity.ParseBundle(pending)
	return err == nil && ed25519Equal(p.SigningKey, b.SigningKey) && bytesEqual(p.DHKey, b.DHKey)
}

// parseHello decodes a hello control message.
func parseHello(pt []byte) (message.Message, hello, bool) {
	var h hello
	msg, err := message.Unmarshal(pt)
	if err != nil {
		return msg, h, false
	}
	ctl, ok := msg.Body.(*message.Control)
	if !ok || ctl.Type != ctlHello || json.Unmarshal(ctl.Data, &h) != nil {
		return msg, h, false
	}
	return msg, h, true
}

// firstHandshake remembers the id of a handshake's first message in the
// seen set of scope (seen.go: bounded, and expired after seenTTL, which
// outlives the last-resort key that alone can open a handshake again)
// and reports whether it was new, in that set and in the one of also
// (if not ""). A replayed handshake is recognised by it whatever
// envelope it comes in (the envelope's digest catches only the same
// bytes).
func (r *received) firstHandshake(t *vault.Tx, scope, also string, id message.ID, now time.Time) (bool, error) {
	if also != "" {
		set, err := r.seen.get(t, setSeenHS+also)
		if err != nil {
			return false, err
		}
		if set.index[[16]byte(id[:])] {
			return false, nil
		}
	}
	dup, err := r.seen.seen(t, setSeenHS+scope, id[:], now)
	return !dup, err
}

// handlePlaintext acts on a decrypted message from contact c.
func (m *Messenger) handlePlaintext(t *vault.Tx, r *received, c *contactRec, pt []byte) error {
	msg, err := message.Unmarshal(pt)
	var uk *message.UnknownKindError
	if errors.As(err, &uk) {
		m.log.Info("received a message of a kind this version does not know", "kind", uk.Kind)
		return nil
	}
	if err != nil {
		m.log.Debug("dropping a malformed message", "err", err)
		return nil
	}
	if c.Blocked {
		return nil
	}
	// A message stored before is not stored again, whatever envelope it
	// came in.
	if dup, err := r.seen.seen(t, setSeenMsg+c.ID, msg.ID[:], m.now()); err != nil || dup {
		return err
	}
	if ctl, ok := msg.Body.(*message.Control); ok && ctl.Type == ctlRefused {
		return m.handleRefusal(t, r, c, ctl)
	}
	if !c.Answered {
		c.Answered = true
		r.events = append(r.events, ContactChanged{Contact: c.public()})
	}
	switch body := msg.Body.(type) {
	case message.Text:
		rec := &msgRec{Kind: KindText, Text: string(body)}
		return m.addIncoming(t, r, c, msg, rec)
	case *message.File:
		rec := &msgRec{Kind: KindFile, File: &FileInfo{Name: body.Name, Size: int64(body.Size), Type: body.MediaType,
			Relay: body.Relay, BlobID: hex.EncodeToString(body.BlobID[:]), Key: body.Key[:], Hash: body.Hash[:]}}
		if err := m.addIncoming(t, r, c, msg, rec); err != nil {
			return err
		}
		if m.autoDownload(int64(body.Size)) {
			r.download = append(r.download, rec.ID)
		}
		return nil
	case *message.Control:
		return m.handleControl(t, r, c, msg, body)
	}
	return nil
}

// addIncoming stores a received text or file, expiring by the values
// inside the message.
func (m *Messenger) addIncoming(t *vault.Tx, r *received, c *contactRec, msg message.Message, rec *msgRec) error {
	rec.ID = hex.EncodeToString(msg.ID[:])
	rec.SentAt = msg.Time().UTC()
	rec.State = StateReceived
	rec.Timer, rec.Burn = msg.Expiry.Timer, msg.Expiry.BurnOnRead
	vm := vault.Message{Conversation: c.ID, ID: rec.ID, Time: rec.SentAt, BurnOnRead: msg.Expiry.BurnOnRead}
	if msg.Expiry.Timer > 0 && !msg.Expiry.BurnOnRead {
		vm.Expires = rec.SentAt.Add(time.Duration(msg.Expiry.Timer) * time.Second)
		if !vm.Expires.After(m.now()) {
			return nil // expired on the way: never stored
		}
	}
	if rec.Kind == KindText {
		held, err := heldClaims(t, c.ID, rec)
		if err != nil {
			return err
		}
		rec.Previews = append(rec.Previews, held...)
	}
	vm.Body = mustJSON(rec)
	vm, err := t.AddMessage(vm)
	if err != nil {
		return err
	}
	if err := t.PutSetting(setMsgIndex+rec.ID, mustJSON(msgIndex{Conversation: c.ID, Seq: vm.Seq})); err != nil {
		return err
	}
	c.Unread++
	c.Activity = m.now().UTC()
	if err := putContact(t, c); err != nil {
		return err
	}
	r.receipts[c.ID] = append(r.receipts[c.ID], msg.ID)
	r.events = append(r.events, MessageAdded{Message: publicMessage(vm, rec)})
	return nil
}

// handleControl acts on receipts, timer changes, hellos and moves.
func (m *Messenger) handleControl(t *vault.Tx, r *received, c *contactRec, msg message.Message, ctl *message.Control) error {
	switch ctl.Type {
	case message.ControlDelivered, message.ControlRead:
		ids, err := ctl.ReceiptIDs()
		if err != nil {
			return nil
		}
		st := StateDelivered
		if ctl.Type == message.ControlRead {
			st = StateRead
		}
		for _, id := range ids {
			// A contact's receipts count for our messages to them only.
			hid := hex.EncodeToString(id[:])
			idx, err := getJSON[msgIndex](t.Setting(setMsgIndex + hid))
			if errors.Is(err, vault.ErrNotFound) || err == nil && idx.Conversation != c.ID {
				continue
			}
			if err != nil {
				return err
			}
			pm, ok, err := setState(t, hid, st)
			if err != nil {
				return err
			}
			if ok && pm.Conversation == c.ID {
				r.events = append(r.events, MessageUpdated{Message: pm})
			}
		}
	case message.ControlTimer:
		e, err := ctl.Expiry()
		if err != nil {
			return nil
		}
		c.Timer, c.TimerBurn = e.Timer, e.BurnOnRead
		if err := putContact(t, c); err != nil {
			return err
		}
		notice := &noticeRec{Type: "timer", By: c.ID, Timer: e.Timer, Burn: e.BurnOnRead}
		// The notice expires like the message that carried it.
		rec := &msgRec{Kind: KindNotice, Notice: notice}
		if err := m.addIncoming(t, r, c, msg, rec); err != nil {
			return err
		}
		delete(r.receipts, c.ID) // notices are not receipted
		r.events = append(r.events, ContactChanged{Contact: c.public()})
	case ctlHello, ctlMoved:
		var h hello
		if json.Unmarshal(ctl.Data, &h) != nil || h.Relay == "" {
			return nil
		}
		c.Theirs = peerMailbox{Relay: h.Relay, ID: h.Mailbox, Token: h.Token}
		c.Answered = true
		if err := putContact(t, c); err != nil {
			return err
		}
		r.events = append(r.events, ContactChanged{Contact: c.public()})
		if ctl.Type == ctlMoved {
			pm, err := m.addNotice(t, c, &noticeRec{Type: "moved", By: c.ID}, message.Expiry{Timer: c.Timer})
			if err != nil {
				return err
			}
			r.events = append(r.events, MessageAdded{Message: pm})
		}
	case ctlPreview:
		return m.handlePreview(t, r, c, ctl)
	}
	return nil
}

// addNotice stores a notice of ours in a conversation.
func (m *Messenger) addNotice(t *vault.Tx, c *contactRec, n *noticeRec, e message.Expiry) (Message, error) {
	id, err := randomHex(m.rand, 16)
	if err != nil {
		return Message{}, err
	}
	now := m.now().UTC()
	rec := &msgRec{ID: id, Kind: KindNotice, Notice: n, SentAt: now, State: StateReceived, Timer: e.Timer}
	vm := vault.Message{Conversation: c.ID, ID: id, Time: now, Body: mustJSON(rec)}
	if e.Timer > 0 {
		vm.Expires = now.Add(time.Duration(e.Timer) * time.Second)
	}
	vm, err = t.AddMessage(vm)
	if err != nil {
		return Message{}, err
	}
	if err := t.PutSetting(setMsgIndex+id, mustJSON(msgIndex{Conversation: c.ID, Seq: vm.Seq})); err != nil {
		return Message{}, err
	}
	return publicMessage(vm, rec), nil
}

// History returns up to limit messages of a conversation older than
// before (0: the newest), newest first.
func (m *Messenger) History(name string, before uint64, limit int) ([]Message, error) {
	c, err := m.findContact(name)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	vms, err := m.v.Messages(c.ID, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(vms))
	for _, vm := range vms {
		rec, err := getJSON[msgRec](vm.Body, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, publicMessage(vm, &rec))
	}
	return out, nil
}

// MarkShown records that the user has seen a conversation's messages up
// to now: unread counts reset, burn-on-read messages start their
// countdown, and read receipts go out when enabled.
func (m *Messenger) MarkShown(name string, ids ...string) ([]Message, error) {
	c, err := m.findContact(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var updated []Message
	err = m.update(func(t *vault.Tx) error {
		updated = updated[:0]
		cr, err := contactIn(t, c.ID)
		if err != nil {
			return err
		}
		var read []message.ID
		for _, id := range ids {
			vm, rec, err := messageByID(t, id)
			if err != nil || vm.Conversation != c.ID || rec.Outgoing || rec.Shown {
				continue
			}
			rec.Shown = true
			if rec.Burn {
				vm.Expires = m.now().Add(time.Duration(rec.Timer) * time.Second)
			}
			vm.Body = mustJSON(rec)
			if err := t.UpdateMessage(vm); err != nil {
				return err
			}
			updated = append(updated, publicMessage(vm, rec))
			if b, err := hex.DecodeString(id); err == nil && len(b) == 16 {
				read = append(read, message.ID(b))
			}
		}
		cr.Unread = 0
		if err := putContact(t, cr); err != nil {
			return err
		}
		if m.prof.Settings.ReadReceipts && len(read) > 0 && cr.canSend() == nil {
			if _, err := m.queueWith(t, cr, nil, message.Receipt(message.ControlRead, read[:min(len(read), 256)]...), message.Expiry{}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.wakeOutbox()
	for _, pm := range updated {
		m.hub.post(MessageUpdated{Message: pm})
	}
	return updated, nil
}

// onExpired reports messages the vault expired.
func (m *Messenger) onExpired(expired []vault.Message, err error) {
	if err != nil {
		m.log.Warn("expiry failed", "err", err)
	}
	byConv := map[string][]string{}
	for _, vm := range expired {
		byConv[vm.Conversation] = append(byConv[vm.Conversation], vm.ID)
	}
	if m.v != nil {
		m.v.Update(func(t *vault.Tx) error {
			for _, vm := range expired {
				if err := t.DeleteSetting(setMsgIndex + vm.ID); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for conv, ids := range byConv {
		m.hub.post(MessagesExpired{Conversation: conv, IDs: ids})
	}
}

// ExpireNow runs expiry at once (it also runs on a timer while open).
func (m *Messenger) ExpireNow() error {
	expired, err := m.v.ExpireDue(m.now())
	m.onExpired(expired, err)
	return errors.Join(err, m.maybePruneSeen(true))
}

// Sync processes what is pending: it waits until every mailbox is
// registered, the outbox is empty (or only holds messages waiting for a
// retry) and no envelope has arrived for quiet, or until ctx ends.
func (m *Messenger) Sync(ctx context.Context, quiet time.Duration) error {
	if quiet <= 0 {
		quiet = 300 * time.Millisecond
	}
	start := time.Now().UnixNano()
	tick := time.NewTicker(quiet / 4)
	defer tick.Stop()
	for {
		entries, err := m.v.Outbox()
		if err != nil {
			return err
		}
		idle := time.Since(time.Unix(0, max(start, m.lastActivity.Load()))) >= quiet
		if idle && len(entries) == 0 && m.pending.Load() == 0 && m.xfers.idle() {
			return nil
		}
		if len(entries) > 0 {
			m.wakeOutbox()
		}
		select {
		case <-ctx.Done():
			if len(entries) > 0 {
				return fmt.Errorf("messenger: %d messages still waiting to be sent: %w", len(entries), ctx.Err())
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
