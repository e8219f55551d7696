package messenger

import (
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// SendOptions override a conversation's timer for one message.
type SendOptions struct {
	// Expire makes the message disappear this long after sending.
	Expire time.Duration
	// Burn makes the message burn-on-read: it disappears this long after
	// the recipient first sees it (and after sending, on our side).
	Burn time.Duration
	// Previews are link previews to attach (see core/links); the
	// receiver keeps only those whose URL is a link in the text.
	Previews []Preview
}

// expiry chooses a message's expiry: the override, else the
// conversation's default.
func (o SendOptions) expiry(c *contactRec) (message.Expiry, error) {
	for _, d := range []time.Duration{o.Expire, o.Burn} {
		if d < 0 || d > message.MaxTimer*time.Second {
			return message.Expiry{}, fmt.Errorf("messenger: timer %v out of range (0 to one year)", d)
		}
	}
	secs := func(d time.Duration) uint32 { return uint32(max(d, time.Second) / time.Second) }
	switch {
	case o.Burn > 0:
		return message.Expiry{Timer: secs(o.Burn), BurnOnRead: true}, nil
	case o.Expire > 0:
		return message.Expiry{Timer: secs(o.Expire)}, nil
	}
	return message.Expiry{Timer: c.Timer, BurnOnRead: c.TimerBurn}, nil
}

// SendText sends a text message to a contact. It returns once the message
// is encrypted and stored in the outbox (state queued); it goes out in the
// background, and MessageUpdated reports when it is sent and delivered.
func (m *Messenger) SendText(ctx context.Context, name, text string, opts SendOptions) (Message, error) {
	if text == "" {
		return Message{}, errors.New("messenger: empty message")
	}
	if len(text) > message.MaxText {
		return Message{}, fmt.Errorf("messenger: text of %d bytes is over the limit of %d", len(text), message.MaxText)
	}
	c, err := m.findContact(name)
	if err != nil {
		return Message{}, err
	}
	if opts.Previews == nil {
		opts.Previews = m.fetchPreviews(ctx, text)
	}
	return m.sendBody(c.ID, message.Text(text), opts, &msgRec{Kind: KindText, Text: text, Previews: opts.Previews})
}

// sendBody encrypts body for contact id and queues it, with hist as our
// copy in the conversation.
func (m *Messenger) sendBody(id string, body message.Body, opts SendOptions, hist *msgRec) (Message, error) {
	r := &sendReq{contact: id, body: body, opts: opts, hist: hist}
	var reqErr error
	err := m.submit(&job{run: func(t *vault.Tx) error {
		var err error
		reqErr, err = m.queueRequest(t, r)
		return err
	}})
	if err == nil {
		err = reqErr
	}
	if err != nil {
		return Message{}, err
	}
	m.wakeOutbox()
	if testHookQueued != nil {
		testHookQueued()
	}
	m.hub.post(MessageAdded{Message: *r.out})
	return *r.out, nil
}

// sendReq is one message to encrypt and store.
type sendReq struct {
	contact string
	body    message.Body
	opts    SendOptions
	hist    *msgRec
	out     *Message
}

// queueRequest stores one request in t. It returns the request's own
// failure (nothing of it was written) or a transaction error.
func (m *Messenger) queueRequest(t *vault.Tx, r *sendReq) (reqErr, txErr error) {
	c, err := contactIn(t, r.contact)
	if err != nil {
		if errors.Is(err, ErrUnknownContact) {
			return err, nil
		}
		return nil, err
	}
	if err := c.canSend(); err != nil {
		return err, nil
	}
	exp, err := r.opts.expiry(c)
	if err != nil {
		return err, nil
	}
	c.Activity = m.now().UTC()
	if err := putContact(t, c); err != nil {
		return nil, err
	}
	if r.out, err = m.queueWith(t, c, nil, r.body, exp, r.hist); err != nil {
		return nil, err
	}
	// The sender's previews follow as claims the receiver checks.
	for _, p := range r.opts.Previews {
		data := mustJSON(previewClaim{Message: r.out.ID, Preview: p.forClaim()})
		if len(data) > message.MaxControlData {
			continue
		}
		if _, err := m.queueWith(t, c, nil, &message.Control{Type: ctlPreview, Data: data}, exp, nil); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Test hooks for the crash tests: each runs at a point where a crash is
// most telling. Nil outside tests.
var (
	testHookQueued   func() // a message is in the outbox, not sent
	testHookSent     func() // the relay acknowledged, the outbox not yet updated
	testHookReceived func() // received messages are stored, not acknowledged
	// testHookSeal, when it returns an error, makes m's sealing of an
	// envelope for contact c fail with it.
	testHookSeal func(m *Messenger, c *contactRec) error
	// testHookReceiveBatch runs in m's receive loop once a delivery is
	// in hand, before the loop takes what else is waiting in pending.
	testHookReceiveBatch func(m *Messenger, pending <-chan relayclient.Delivery)
	// testDeliveryBuffer, when positive, is the relay clients'
	// DeliveryBuffer.
	testDeliveryBuffer int
	// testHookEncrypted sees every ratchet message m encrypts for
	// contact: the plaintext and the ciphertext.
	testHookEncrypted func(m *Messenger, contact string, pt, ct []byte)
)

// queueWith encrypts body for c with its session (loaded from t when sess
// is nil), seals it to c's envelope key and stores the advanced session
// and the envelope in the outbox, all in transaction t. With hist, our
// copy goes into the conversation too, and is returned.
func (m *Messenger) queueWith(t *vault.Tx, c *contactRec, sess *session.Session, body message.Body, exp message.Expiry, hist *msgRec) (*Message, error) {
	if sess == nil {
		var err error
		if sess, err = m.sessionIn(t, c.ID); err != nil {
			return nil, err
		}
	}
	now := m.now()
	msg, err := message.New(body, exp, now, m.rand)
	if err != nil {
		return nil, err
	}
	ct, err := m.encryptFor(t, c, sess, msg)
	if err != nil {
		return nil, err
	}
	id := hex.EncodeToString(msg.ID[:])
	var out *Message
	if hist != nil {
		hist.ID, hist.Outgoing, hist.SentAt, hist.State = id, true, msg.Time().UTC(), StateQueued
		hist.Timer, hist.Burn = exp.Timer, exp.BurnOnRead
		vm := vault.Message{Conversation: c.ID, ID: id, Time: hist.SentAt, Body: mustJSON(hist)}
		if exp.Timer > 0 {
			// Our own copy counts down from sending, burn-on-read or not.
			vm.Expires = hist.SentAt.Add(time.Duration(exp.Timer) * time.Second)
		}
		vm, err = t.AddMessage(vm)
		if err != nil {
			return nil, err
		}
		if err := t.PutSetting(setMsgIndex+id, mustJSON(msgIndex{Conversation: c.ID, Seq: vm.Seq})); err != nil {
			return nil, err
		}
		pm := publicMessage(vm, hist)
		out = &pm
	}
	mid := ""
	if hist != nil {
		mid = id
	}
	m.addOut(c, ct, mid, exp)
	return out, nil
}

// encryptFor encrypts msg with sess; the advanced session is written to
// t when the transaction's outgoing envelopes are sealed (flushOut).
func (m *Messenger) encryptFor(t *vault.Tx, c *contactRec, sess *session.Session, msg message.Message) ([]byte, error) {
	if c.ResetPending == resetNeeded {
		// The one place every encryption passes: a restored session
		// never encrypts again (it would reuse message keys).
		return nil, fmt.Errorf("%w: %s", ErrResetPending, "contact "+c.ID)
	}
	sess.SetRand(m.rand)
	pt, err := msg.Marshal()
	if err != nil {
		return nil, err
	}
	ct, err := sess.Encrypt(pt, theirsAD(c))
	if err != nil {
		return nil, err
	}
	m.sessions[c.ID] = sess
	m.dirty[c.ID] = sess
	if testHookEncrypted != nil {
		testHookEncrypted(m, c.ID, pt, ct)
	}
	return ct, nil
}

// envelopeKey returns a contact's envelope public key, parsed once per
// identity bundle (parsing verifies the bundle, which costs scalar
// multiplications). Callers hold m.mu.
func (m *Messenger) envelopeKey(c *contactRec) (hpke.PublicKey, error) {
	sum := sha256.Sum256(c.Bundle)
	if k, ok := m.envKeys[sum]; ok {
		return k, nil
	}
	b, err := identity.ParseBundle(c.Bundle)
	if err != nil {
		return nil, err
	}
	pk, err := b.EnvelopePublicKey()
	if err != nil {
		return nil, err
	}
	if len(m.envKeys) > 4096 {
		clear(m.envKeys)
	}
	m.envKeys[sum] = pk
	return pk, nil
}

// queueAs queues body for c under an id chosen before (a file message
// whose entry in the conversation exists since the upload began).
func (m *Messenger) queueAs(t *vault.Tx, c *contactRec, body message.Body, exp message.Expiry, id string) error {
	sess, err := m.sessionIn(t, c.ID)
	if err != nil {
		return err
	}
	msg, err := message.New(body, exp, m.now(), m.rand)
	if err != nil {
		return err
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != len(msg.ID) {
		return fmt.Errorf("messenger: bad message id %q", id)
	}
	copy(msg.ID[:], b)
	ct, err := m.encryptFor(t, c, sess, msg)
	if err != nil {
		return err
	}
	m.addOut(c, ct, id, exp)
	return nil
}

func (m *Messenger) wakeOutbox() {
	select {
	case m.outboxWake <- struct{}{}:
	default:
	}
}

// sendLoop sends the outbox: every entry is the exact envelope stored
// with its ratchet step, sent as is (never re-encrypted) until the relay
// acknowledges it, with backoff between attempts. Entries go out
// concurrently, at most sendParallel at a time.
const sendParallel = 32

func (m *Messenger) sendLoop() {
	defer m.wg.Done()
	type pendingEntry struct {
		e        vault.OutboxEntry
		rec      outboxRec
		retryAt  time.Time
		attempts int
		inflight bool
	}
	var (
		mu      sync.Mutex
		pending = map[uint64]*pendingEntry{}
		cursor  uint64 // the newest entry read from the vault
		sem     = make(chan struct{}, sendParallel)
		done    = make(chan sentEntry, sendParallel)
	)
	m.wg.Add(1)
	go m.markSent(done)
	for {
		// Read only what was added since the last round.
		for {
			entries, err := m.v.OutboxAfter(cursor, 1024)
			if err != nil {
				if m.ctx.Err() != nil {
					return
				}
				m.log.Warn("reading the outbox failed", "err", err)
				break
			}
			for _, e := range entries {
				cursor = max(cursor, e.Seq)
				rec, err := decodeOutboxRec(e.Data)
				if err != nil {
					m.log.Warn("dropping an unreadable outbox entry", "err", err)
					m.v.DeleteOutbox(e.Seq)
					continue
				}
				mu.Lock()
				pending[e.Seq] = &pendingEntry{e: e, rec: rec}
				mu.Unlock()
			}
			if len(entries) < 1024 {
				break
			}
		}
		if err := m.maybePruneSeen(false); err != nil && m.ctx.Err() == nil {
			m.log.Warn("pruning the record of received messages failed", "err", err)
		}
		wait := time.Minute
		now := time.Now()
		mu.Lock()
		var due []*pendingEntry
		for _, p := range pending {
			if p.inflight {
				continue
			}
			if _, held := m.hold.Load(p.e.Contact); held {
				continue
			}
			if now.Before(p.retryAt) {
				wait = min(wait, p.retryAt.Sub(now))
				continue
			}
			p.inflight = true
			due = append(due, p)
		}
		mu.Unlock()
		sort.Slice(due, func(i, j int) bool { return due[i].e.Seq < due[j].e.Seq })
		for _, p := range due {
			select {
			case sem <- struct{}{}:
			case <-m.ctx.Done():
				return
			}
			m.pending.Add(1)
			go func(p *pendingEntry) {
				defer func() { <-sem }()
				err := m.sendOne(p.e.Contact, p.rec)
				final := err == nil || errors.Is(err, errPermanent)
				mu.Lock()
				p.inflight = false
				if final {
					delete(pending, p.e.Seq)
				} else {
					p.attempts++
					p.retryAt = time.Now().Add(backoff(p.attempts))
				}
				attempts := p.attempts
				mu.Unlock()
				if final {
					select {
					case done <- sentEntry{seq: p.e.Seq, rec: p.rec, failed: err != nil}:
					case <-m.ctx.Done():
						m.pending.Add(-1)
					}
				} else {
					m.pending.Add(-1)
					m.wakeOutboxAfter(backoff(attempts))
				}
			}(p)
		}
		select {
		case <-m.ctx.Done():
			return
		case <-m.outboxWake:
		case <-time.After(wait):
		}
	}
}

func (m *Messenger) wakeOutboxAfter(d time.Duration) {
	time.AfterFunc(d, m.wakeOutbox)
}

var errPermanent = errors.New("messenger: permanent send failure")

// sendOne hands one stored envelope to the recipient's relay.
func (m *Messenger) sendOne(contact string, rec outboxRec) error {
	if rec.Failed {
		return fmt.Errorf("%w: the envelope could not be sealed", errPermanent)
	}
	rc, err := m.sendConn(m.resolve(rec.Relay), rec.Mailbox)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	_, err = rc.client.Send(ctx, rec.Mailbox, rec.Token, rec.TTL, rec.Envelope)
	var we *wire.Error
	if errors.As(err, &we) && (we.Code == wire.CodeNotFound || we.Code == wire.CodeUnauthorized || we.Code == wire.CodeTooLarge) {
		m.log.Warn("the relay refused a message for good", "code", we.Code)
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	if err != nil {
		m.log.Debug("send failed; will retry", "err", err)
	}
	return err
}

type sentEntry struct {
	seq    uint64
	rec    outboxRec
	failed bool
}

// markSent removes sent entries from the outbox and marks their messages
// sent, many per transaction.
func (m *Messenger) markSent(done <-chan sentEntry) {
	defer m.wg.Done()
	for {
		var batch []sentEntry
		select {
		case <-m.ctx.Done():
			return
		case e := <-done:
			batch = append(batch, e)
		}
		if testHookSent != nil {
			testHookSent()
		}
	drain:
		for len(batch) < 256 {
			select {
			case e := <-done:
				batch = append(batch, e)
			default:
				break drain
			}
		}
		var updated []Message
		err := m.submit(&job{run: func(t *vault.Tx) error {
			updated = updated[:0]
			for _, e := range batch {
				if err := t.DeleteOutbox(e.seq); err != nil {
					return err
				}
				st := StateSent
				if e.failed {
					st = StateFailed
				}
				for _, id := range e.rec.MessageIDs {
					msg, ok, err := setState(t, id, st)
					if err != nil {
						return err
					}
					if ok {
						updated = append(updated, msg)
					}
				}
			}
			return nil
		}})
		for range batch {
			m.pending.Add(-1)
		}
		if err != nil {
			m.log.Warn("recording sent messages failed", "err", err)
			continue
		}
		for _, msg := range updated {
			m.hub.post(MessageUpdated{Message: msg})
		}
	}
}

// stateRank orders delivery states so a late "sent" never overrides
// "delivered".
var stateRank = map[State]int{StateQueued: 0, StateFailed: 1, StateSent: 2, StateDelivered: 3, StateRead: 4}

// setState moves message id forward to st. It reports false when the
// message is gone (expired) or already at or past st.
func setState(t *vault.Tx, id string, st State) (Message, bool, error) {
	vm, rec, err := messageByID(t, id)
	if errors.Is(err, vault.ErrNotFound) || errors.Is(err, ErrUnknownMessage) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, err
	}
	if !rec.Outgoing || stateRank[st] <= stateRank[rec.State] {
		return Message{}, false, nil
	}
	rec.State = st
	vm.Body = mustJSON(rec)
	if err := t.UpdateMessage(vm); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return Message{}, false, nil
		}
		return Message{}, false, err
	}
	return publicMessage(vm, rec), true, nil
}

// messageByID finds a stored message by its id.
func messageByID(t *vault.Tx, id string) (vault.Message, *msgRec, error) {
	idx, err := getJSON[msgIndex](t.Setting(setMsgIndex + id))
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Message{}, nil, fmt.Errorf("%w: %s", ErrUnknownMessage, id)
	}
	if err != nil {
		return vault.Message{}, nil, err
	}
	vm, err := t.Message(idx.Conversation, idx.Seq)
	if err != nil {
		return vault.Message{}, nil, err
	}
	rec, err := getJSON[msgRec](vm.Body, nil)
	if err != nil {
		return vault.Message{}, nil, err
	}
	return vm, &rec, nil
}

// publicMessage is the front ends' view of a stored message.
func publicMessage(vm vault.Message, rec *msgRec) Message {
	out := Message{ID: rec.ID, Conversation: vm.Conversation, Seq: vm.Seq, Kind: rec.Kind, Text: rec.Text,
		SentAt: rec.SentAt, ExpiresAt: vm.Expires, State: rec.State, Previews: rec.Previews, From: "me"}
	if !rec.Outgoing {
		out.From = vm.Conversation
	}
	if rec.Burn {
		out.BurnAfter = time.Duration(rec.Timer) * time.Second
	}
	if rec.File != nil {
		f := *rec.File
		f.Key, f.Hash, f.BlobID, f.Relay = nil, nil, "", ""
		out.File = &f
	}
	if rec.Notice != nil {
		out.Text = rec.Notice.text()
	}
	if out.Previews == nil {
		out.Previews = []Preview{}
	}
	return out
}

func (n *noticeRec) text() string {
	who := "You"
	if n.By != "me" {
		who = "They"
	}
	switch n.Type {
	case "timer":
		if n.Timer == 0 {
			return who + " turned disappearing messages off"
		}
		d := (time.Duration(n.Timer) * time.Second).String()
		if n.Burn {
			return fmt.Sprintf("%s set messages to burn %s after reading", who, d)
		}
		return fmt.Sprintf("%s set disappearing messages to %s", who, d)
	case "key-change": // written by versions before requests
		return "Their safety number changed"
	case "key-accepted":
		return "You accepted their new safety number"
	case "key-request":
		return "Someone with another safety number wrote on this conversation's mailbox. Nothing changes unless you accept their safety number as this contact's new one."
	case "invite-refused":
		if n.Reason == RefusedExpired {
			return "They refused: the invite had expired. Ask for a new one."
		}
		return "They refused: the invite was already used. Ask for a new one."
	case "old-version":
		return "They use an older version of Ephemera: their messages cannot be read until they update"
	case "moved":
		return who + " moved to another relay"
	case "reset":
		return "The secure session was reset"
	}
	return n.Type
}
