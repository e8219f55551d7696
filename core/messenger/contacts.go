package messenger

import (
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/invite"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Control message types of the messenger, carried in message.Control
// (types below 16 belong to package message).
const (
	// ctlHello introduces a new contact: the initiator's first message,
	// and the inviter's answer. Data is a hello.
	ctlHello message.ControlType = 16
	// ctlMoved tells a contact where we receive from now on. Data is a
	// hello without bundle.
	ctlMoved message.ControlType = 17
)

// hello is what a contact needs to reach us.
type hello struct {
	Invite  string         `json:"invite,omitempty"` // the invite answered (initiator only)
	Bundle  []byte         `json:"bundle,omitempty"` // our identity.Bundle
	Relay   string         `json:"relay"`
	Mailbox wire.MailboxID `json:"mailbox"`
	Token   wire.Key32     `json:"token"`
}

// InviteOptions are the choices for CreateInvite.
type InviteOptions struct {
	// OneTime invites work for one contact only.
	OneTime bool
	// Expires is how long the invite is valid; 0 means seven days.
	Expires time.Duration
}

// Prekeys published on a mailbox are sealed under a key derived from the
// mailbox's send token, which the relay only knows by its hash: the relay
// stores and hands out opaque bytes, and cannot link a person's mailboxes
// by the identity keys, pseudonym or key ids inside them. Whoever may send
// to the mailbox (an invite's holder, the contact) can read them.
func prekeyAEAD(token wire.Key32, mb wire.MailboxID) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, token[:], mb[:], "ephemera prekeys v1", chacha20poly1305.KeySize)
	if err != nil {
		panic(err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err)
	}
	return aead
}

func (m *Messenger) sealPrekey(aead cipher.AEAD, pt []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	if _, err := io.ReadFull(m.rand, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, pt, nil), nil
}

func openPrekey(aead cipher.AEAD, ct []byte) ([]byte, error) {
	if len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: published prekey too short", ErrBadInvite)
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: published prekeys do not open with the invite's token", ErrBadInvite)
	}
	return pt, nil
}

// claimPrekey claims a prekey of mailbox mb and opens it with the
// mailbox's send token: our contact's identity bundle, the prekey bundle
// and the one-time (or last-resort) entry.
func claimPrekey(ctx context.Context, rc *relayConn, mb wire.MailboxID, token wire.Key32) (*identity.Bundle, []byte, []byte, error) {
	pk, err := rc.client.ClaimPrekey(ctx, mb)
	if err != nil {
		return nil, nil, nil, err
	}
	aead := prekeyAEAD(token, mb)
	bundle, err := openPrekey(aead, pk.Bundle)
	if err != nil {
		return nil, nil, nil, err
	}
	entry, err := openPrekey(aead, pk.Key)
	if err != nil {
		return nil, nil, nil, err
	}
	id, prekey, err := unpackBundle(bundle)
	return id, prekey, entry, err
}

// packBundle is what we publish as a mailbox's prekey bundle at the
// relay: our identity bundle (which holds the envelope key the invite
// only names by digest) and the signed prekey bundle.
func packBundle(id, prekey []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(id)))
	b = append(b, id...)
	return append(b, prekey...)
}

func unpackBundle(b []byte) (*identity.Bundle, []byte, error) {
	if len(b) < 2 || int(binary.BigEndian.Uint16(b)) > len(b)-2 {
		return nil, nil, fmt.Errorf("%w: published bundle too short", ErrBadInvite)
	}
	n := int(binary.BigEndian.Uint16(b))
	id, err := identity.ParseBundle(b[2 : 2+n])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	return id, b[2+n:], nil
}

// publishPrekeys registers mb at its relay and uploads our bundles and n
// one-time keys to it, replacing those published there before (see
// newGeneration). Called with m.mu held.
func (m *Messenger) publishPrekeys(ctx context.Context, mb ownMailbox, owner string, n int) error {
	return m.publishPrekeysN(ctx, mb, owner, n, false)
}

// publishPrekeysN is publishPrekeys; wantOne (a one-time invite) fails
// with ErrTooManyPrekeys rather than publish no one-time key.
func (m *Messenger) publishPrekeysN(ctx context.Context, mb ownMailbox, owner string, n int, wantOne bool) error {
	rc, err := m.readConn(m.resolve(mb.Relay), owner)
	if err != nil {
		return err
	}
	if err := rc.client.Register(ctx, mb.client()); err != nil {
		return fmt.Errorf("messenger: relay %s: %w", mb.Relay, err)
	}
	oneTime, err := m.newGeneration(hex.EncodeToString(mb.ID[:]), n, wantOne)
	if err != nil {
		return err
	}
	b, err := m.prekeys.Bundle(m.keys)
	if err != nil {
		return err
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	lr, err := (&session.PrekeyEntry{LastResort: true, LastResortID: b.LastResort.ID}).MarshalBinary()
	if err != nil {
		return err
	}
	// The private halves are stored before the public ones are published.
	if err := m.savePrekeys(); err != nil {
		return err
	}
	aead := prekeyAEAD(mb.Token, mb.ID)
	sealedBundle, err := m.sealPrekey(aead, packBundle(m.id.Bundle().Marshal(), bb))
	if err != nil {
		return err
	}
	sealedLR, err := m.sealPrekey(aead, lr)
	if err != nil {
		return err
	}
	for i, k := range oneTime {
		if oneTime[i], err = m.sealPrekey(aead, k); err != nil {
			return err
		}
	}
	_, err = rc.client.PutPrekeys(ctx, mb.ID, sealedBundle, sealedLR, oneTime, true)
	if err != nil {
		return fmt.Errorf("messenger: relay %s: %w", mb.Relay, err)
	}
	return nil
}

// CreateInvite makes an invite code (and its QR code) for a new contact.
// It needs the relay: the invite's mailbox and prekeys are published there.
func (m *Messenger) CreateInvite(ctx context.Context, opts InviteOptions) (Invite, error) {
	if opts.Expires <= 0 {
		opts.Expires = 7 * 24 * time.Hour
	}
	mb, err := m.newMailbox()
	if err != nil {
		return Invite{}, err
	}
	rec := inviteRec{Mailbox: mb, OneTime: opts.OneTime,
		Expires: m.now().Add(opts.Expires).Truncate(time.Second).UTC()}
	inv, err := invite.New(m.id, invite.Params{RelayURL: m.resolve(mb.Relay), Mailbox: mb.ID, SendToken: mb.Token,
		Expires: rec.Expires, OneTime: opts.OneTime}, m.rand)
	if err != nil {
		return Invite{}, err
	}
	rec.ID = hex.EncodeToString(inv.ID[:])
	rec.Code = inv.String()
	owner := "invite:" + rec.ID
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 16
	if opts.OneTime {
		n = 1
	}
	if err := m.putInvite(rec); err != nil {
		return Invite{}, err
	}
	if err := m.publishPrekeysN(ctx, mb, owner, n, opts.OneTime); err != nil {
		return Invite{}, err
	}
	m.owners[mb.ID] = owner
	qr, err := inv.QRCodePNG(512)
	if err != nil {
		return Invite{}, err
	}
	return Invite{ID: rec.ID, Code: rec.Code, QR: qr, OneTime: rec.OneTime, Expires: rec.Expires}, nil
}

func (m *Messenger) putInvite(rec inviteRec) error {
	return m.update(func(t *vault.Tx) error {
		ids, err := getJSON[[]string](t.Setting(setInvites))
		if err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		found := false
		for _, id := range ids {
			found = found || id == rec.ID
		}
		if !found {
			ids = append(ids, rec.ID)
			if err := t.PutSetting(setInvites, mustJSON(ids)); err != nil {
				return err
			}
		}
		return t.PutSetting(setInvite+rec.ID, mustJSON(rec))
	})
}

func (m *Messenger) inviteRecs() ([]inviteRec, error) {
	var out []inviteRec
	err := m.v.View(func(t *vault.Tx) error {
		ids, err := getJSON[[]string](t.Setting(setInvites))
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, id := range ids {
			rec, err := getJSON[inviteRec](t.Setting(setInvite + id))
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// AcceptInvite accepts an invite code: it claims a prekey through the
// inviter's relay, runs the handshake, and sends the first message with
// our own mailbox for them. The contact is created at once; it is
// Pending until the inviter's answer arrives.
func (m *Messenger) AcceptInvite(ctx context.Context, code string) (Contact, error) {
	inv, err := invite.Parse(strings.TrimSpace(code), m.now())
	if err != nil {
		return Contact{}, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if ed25519Equal(inv.SigningKey, m.id.SigningPublicKey()) {
		return Contact{}, fmt.Errorf("%w: this is your own invite", ErrBadInvite)
	}
	rc, err := m.sendConn(inv.RelayURL, inv.Mailbox)
	if err != nil {
		return Contact{}, err
	}
	peerBundle, prekeyBundle, entry, err := claimPrekey(ctx, rc, inv.Mailbox, inv.SendToken)
	var we *wire.Error
	if errors.As(err, &we) {
		return Contact{}, fmt.Errorf("messenger: claim the inviter's prekey at %s: %w", inv.RelayURL, err)
	}
	if err != nil {
		return Contact{}, err
	}
	// A one-time invite publishes one one-time prekey: when only the
	// last-resort key is left, someone accepted it before us.
	if e, err := session.ParseEntry(entry); inv.OneTime && err == nil && e.LastResort {
		return Contact{}, ErrInviteUsed
	}
	if err := inv.MatchBundle(peerBundle); err != nil {
		return Contact{}, fmt.Errorf("%w: the relay's bundle does not match the invite: %v", ErrBadInvite, err)
	}
	dh, err := ecdh.X25519().NewPublicKey(peerBundle.DHKey)
	if err != nil {
		return Contact{}, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	sess, err := session.Initiate(m.keys, session.PublicIdentity{Signing: peerBundle.SigningKey, DH: dh}, prekeyBundle, entry, m.rand)
	if err != nil {
		return Contact{}, fmt.Errorf("%w: handshake: %v", ErrBadInvite, err)
	}
	mine, err := m.newMailbox()
	if err != nil {
		return Contact{}, err
	}
	cid, err := randomHex(m.rand, 16)
	if err != nil {
		return Contact{}, err
	}
	now := m.now().UTC()
	c := &contactRec{ID: cid, Pseudonym: peerBundle.Pseudonym, Bundle: peerBundle.Marshal(),
		Theirs: peerMailbox{Relay: inv.RelayURL, ID: inv.Mailbox, Token: inv.SendToken, Invite: true},
		Mine:   mine, Invite: hex.EncodeToString(inv.ID[:]), Initiator: true,
		Created: now, Activity: now}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Our mailbox exists, with prekeys for session resets, before anyone
	// is told about it.
	if err := m.publishPrekeys(ctx, mine, cid, 4); err != nil {
		return Contact{}, err
	}
	h := hello{Invite: c.Invite, Bundle: m.id.Bundle().Marshal(), Relay: mine.Relay, Mailbox: mine.ID, Token: mine.Token}
	ctl := &message.Control{Type: ctlHello, Data: mustJSON(h)}
	err = m.update(func(t *vault.Tx) error {
		if err := t.PutContact(vault.Contact{ID: c.ID, Data: mustJSON(c)}); err != nil {
			return err
		}
		_, err := m.queueWith(t, c, sess, ctl, message.Expiry{}, nil)
		return err
	})
	if err != nil {
		return Contact{}, err
	}
	m.owners[mine.ID] = cid
	m.wakeOutbox()
	m.hub.post(ContactChanged{Contact: c.public()})
	return c.public(), nil
}

// helloContact makes a contact from an initiator's hello on one of our
// invite mailboxes and queues our answer (the inviter's answer to our own
// hello is handled by handleControl). Called inside the delivery's
// transaction with m.mu held.
func (m *Messenger) helloContact(t *vault.Tx, inv *inviteRec, sess *session.Session, h hello) (*contactRec, error) {
	if len(h.Bundle) == 0 {
		return nil, errors.New("hello without identity")
	}
	b, err := identity.ParseBundle(h.Bundle)
	if err != nil {
		return nil, err
	}
	peer := sess.Peer()
	if !ed25519Equal(b.SigningKey, peer.Signing) || !bytesEqual(b.DHKey, peer.DH.Bytes()) {
		return nil, errors.New("hello names another identity than the session's")
	}
	if h.Invite != inv.ID {
		return nil, errors.New("hello for another invite")
	}
	if inv.OneTime && inv.Used > 0 {
		return nil, errInviteUsed
	}
	if !inv.Expires.After(m.now()) {
		return nil, errInviteExpired
	}
	mine, err := m.newMailbox()
	if err != nil {
		return nil, err
	}
	cid, err := randomHex(m.rand, 16)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	c := &contactRec{ID: cid, Pseudonym: b.Pseudonym, Bundle: b.Marshal(),
		Theirs: peerMailbox{Relay: h.Relay, ID: h.Mailbox, Token: h.Token},
		Mine:   mine, Invite: inv.ID, Answered: true, Created: now, Activity: now}
	inv.Used++
	if err := t.PutSetting(setInvite+inv.ID, mustJSON(inv)); err != nil {
		return nil, err
	}
	if err := t.PutContact(vault.Contact{ID: c.ID, Data: mustJSON(c)}); err != nil {
		return nil, err
	}
	// Answer with our own mailbox for them.
	ans := hello{Relay: mine.Relay, Mailbox: mine.ID, Token: mine.Token}
	if _, err := m.queueWith(t, c, sess, &message.Control{Type: ctlHello, Data: mustJSON(ans)}, message.Expiry{}, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// contactRecs returns every contact record.
func (m *Messenger) contactRecs() ([]*contactRec, error) {
	cs, err := m.v.Contacts()
	if err != nil {
		return nil, err
	}
	out := make([]*contactRec, 0, len(cs))
	for _, c := range cs {
		var rec contactRec
		if err := json.Unmarshal(c.Data, &rec); err != nil {
			return nil, fmt.Errorf("messenger: contact: %w", vault.ErrCorrupt)
		}
		out = append(out, &rec)
	}
	return out, nil
}

func contactIn(t *vault.Tx, id string) (*contactRec, error) {
	c, err := t.Contact(id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownContact, id)
	}
	if err != nil {
		return nil, err
	}
	return decodeContact(c.Data)
}

// decoded caches decoded contact records by the digest of their
// encoding: a contact is read in every message's transaction, and its
// JSON (with the identity bundle in base64) costs more than the rest.
var decoded struct {
	sync.Mutex
	m map[[32]byte]contactRec
}

func decodeContact(data []byte) (*contactRec, error) {
	sum := sha256.Sum256(data)
	decoded.Lock()
	rec, ok := decoded.m[sum]
	decoded.Unlock()
	if ok {
		return &rec, nil
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("messenger: contact: %w", vault.ErrCorrupt)
	}
	decoded.Lock()
	if decoded.m == nil || len(decoded.m) > 1024 {
		decoded.m = map[[32]byte]contactRec{}
	}
	decoded.m[sum] = rec
	decoded.Unlock()
	return &rec, nil
}

func putContact(t *vault.Tx, c *contactRec) error {
	return t.PutContact(vault.Contact{ID: c.ID, Data: mustJSON(c)})
}

// Contacts returns every contact, most recently active first.
func (m *Messenger) Contacts() ([]Contact, error) {
	recs, err := m.contactRecs()
	if err != nil {
		return nil, err
	}
	out := make([]Contact, len(recs))
	for i, c := range recs {
		out[i] = c.public()
	}
	sortContacts(out)
	return out, nil
}

// FindContact resolves a contact named by id, alias or pseudonym.
func (m *Messenger) FindContact(name string) (Contact, error) {
	c, err := m.findContact(name)
	if err != nil {
		return Contact{}, err
	}
	return c.public(), nil
}

func (m *Messenger) findContact(name string) (*contactRec, error) {
	if len(name) == 32 {
		// Most callers name a contact by id: one lookup.
		if c, err := m.v.Contact(name); err == nil {
			var rec contactRec
			if json.Unmarshal(c.Data, &rec) == nil {
				return &rec, nil
			}
		}
	}
	recs, err := m.contactRecs()
	if err != nil {
		return nil, err
	}
	var found []*contactRec
	for _, c := range recs {
		if c.ID == name {
			return c, nil
		}
	}
	for _, c := range recs {
		if strings.EqualFold(c.name(), name) || strings.EqualFold(c.Pseudonym, name) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrUnknownContact, name)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: %q; use its id", ErrAmbiguous, name)
}

// updateContact applies f to a contact in one transaction and reports it.
func (m *Messenger) updateContact(name string, f func(t *vault.Tx, c *contactRec) error) (Contact, error) {
	c, err := m.findContact(name)
	if err != nil {
		return Contact{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err = m.update(func(t *vault.Tx) error {
		c, err = contactIn(t, c.ID)
		if err != nil {
			return err
		}
		if err := f(t, c); err != nil {
			return err
		}
		return putContact(t, c)
	})
	if err != nil {
		return Contact{}, err
	}
	m.hub.post(ContactChanged{Contact: c.public()})
	m.wakeOutbox()
	return c.public(), nil
}

// RenameContact sets the name we show for a contact ("" restores their
// pseudonym).
func (m *Messenger) RenameContact(name, alias string) (Contact, error) {
	if alias != "" {
		a, err := identity.ValidatePseudonym(alias)
		if err != nil {
			return Contact{}, fmt.Errorf("messenger: %w", err)
		}
		alias = a
	}
	return m.updateContact(name, func(_ *vault.Tx, c *contactRec) error { c.Alias = alias; return nil })
}

// BlockContact blocks (or unblocks) a contact: nothing is sent to them and
// what they send is dropped.
func (m *Messenger) BlockContact(name string, blocked bool) (Contact, error) {
	return m.updateContact(name, func(_ *vault.Tx, c *contactRec) error { c.Blocked = blocked; return nil })
}

// SetVerified marks a contact's safety number as checked (or not).
func (m *Messenger) SetVerified(name string, verified bool) (Contact, error) {
	return m.updateContact(name, func(_ *vault.Tx, c *contactRec) error {
		if verified && len(c.KeyChanged) > 0 {
			return ErrKeyChanged
		}
		c.Verified = verified
		return nil
	})
}

// AcceptKeyChange accepts the identity that asked to take over a
// contact's conversation (Contact.KeyChanged) as the contact's new one:
// its session and mailbox replace the contact's, and the contact is no
// longer verified. Check the request's safety number
// (RequestSafetyNumber) with the contact first.
func (m *Messenger) AcceptKeyChange(name string) (Contact, error) {
	var notice Message
	c, err := m.updateContact(name, func(t *vault.Tx, c *contactRec) error {
		if len(c.KeyChanged) == 0 || c.RequestTheirs == nil {
			return nil
		}
		b, err := t.Session(pendingSession(c.ID))
		if err != nil {
			return fmt.Errorf("messenger: the request's session: %w", err)
		}
		sess := new(session.Session)
		if err := sess.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("messenger: the request's session: %w", err)
		}
		nb, err := identity.ParseBundle(c.KeyChanged)
		if err != nil {
			return err
		}
		if err := t.PutSession(c.ID, b); err != nil {
			return err
		}
		if err := t.DeleteSession(pendingSession(c.ID)); err != nil {
			return err
		}
		m.sessions[c.ID] = sess
		c.Bundle, c.Pseudonym, c.Theirs = c.KeyChanged, nb.Pseudonym, *c.RequestTheirs
		c.KeyChanged, c.RequestTheirs, c.Verified, c.Answered = nil, nil, false, true
		if c.ResetPending == resetNeeded {
			// The request's session replaces the restored one: nothing
			// encrypted in it repeats a key (restore.go).
			c.ResetPending = 0
		}
		notice, err = m.addNotice(t, c, &noticeRec{Type: "key-accepted", By: "me"}, message.Expiry{Timer: c.Timer})
		return err
	})
	if err == nil && notice.ID != "" {
		m.hub.post(MessageAdded{Message: notice})
	}
	return c, err
}

// DeclineKeyChange drops the request of another identity on a contact's
// mailbox (Contact.KeyChanged); the conversation goes on as before.
func (m *Messenger) DeclineKeyChange(name string) (Contact, error) {
	return m.updateContact(name, func(t *vault.Tx, c *contactRec) error {
		c.KeyChanged, c.RequestTheirs = nil, nil
		return t.DeleteSession(pendingSession(c.ID))
	})
}

// pendingSession names the vault record of the session a request
// (contactRec.KeyChanged) started; it never serves the conversation
// before AcceptKeyChange.
func pendingSession(contact string) string { return contact + "/request" }

// SafetyNumber returns the safety number shared with a contact (digits
// to compare, and a QR code payload): that of the identity the
// conversation is with, whatever requests came in (RequestSafetyNumber).
func (m *Messenger) SafetyNumber(name string) (*identity.SafetyNumber, error) {
	c, err := m.findContact(name)
	if err != nil {
		return nil, err
	}
	b, err := identity.ParseBundle(c.Bundle)
	if err != nil {
		return nil, err
	}
	return m.id.SafetyNumber(b)
}

// RequestSafetyNumber returns the safety number of the identity that
// asked to take over a contact's conversation (Contact.KeyChanged), to
// compare before AcceptKeyChange. ErrNoRequest when there is none.
func (m *Messenger) RequestSafetyNumber(name string) (*identity.SafetyNumber, error) {
	c, err := m.findContact(name)
	if err != nil {
		return nil, err
	}
	if len(c.KeyChanged) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRequest, c.name())
	}
	b, err := identity.ParseBundle(c.KeyChanged)
	if err != nil {
		return nil, err
	}
	return m.id.SafetyNumber(b)
}

// DeleteContact deletes a contact with its session and whole history; its
// messages' keys are destroyed like expired ones.
func (m *Messenger) DeleteContact(name string) error {
	c, err := m.findContact(name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	err = m.update(func(t *vault.Tx) error {
		last, err := t.LastSeq(c.ID)
		if err != nil {
			return err
		}
		for seq := uint64(1); seq <= last; seq++ {
			msg, err := t.Message(c.ID, seq)
			if err == nil {
				ids = append(ids, msg.ID)
				if err := t.DeleteSetting(setMsgIndex + msg.ID); err != nil {
					return err
				}
			}
			if err := t.DeleteMessage(c.ID, seq); err != nil {
				return err
			}
		}
		if err := t.DeleteSession(c.ID); err != nil {
			return err
		}
		if err := t.DeleteSession(pendingSession(c.ID)); err != nil {
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
		return t.DeleteContact(c.ID)
	})
	if err != nil {
		return err
	}
	delete(m.owners, c.Mine.ID)
	delete(m.sessions, c.ID)
	m.unwatch(c.Mine, c.ID)
	m.dropPrekeys(hex.EncodeToString(c.Mine.ID[:]))
	if err := m.savePrekeys(); err != nil {
		return err
	}
	// Deleted records' keys leave the disk with compaction.
	if err := m.v.Compact(); err != nil {
		m.log.Warn("compaction after deleting a contact failed", "err", err)
	}
	m.hub.post(MessagesExpired{Conversation: c.ID, IDs: ids})
	m.hub.post(ContactRemoved{ID: c.ID})
	return nil
}

// SetTimer sets a conversation's default disappearing-message timer (0 for
// off; burn makes new messages burn-on-read with that duration) and tells
// the contact, whose side shows and applies the change too.
func (m *Messenger) SetTimer(ctx context.Context, name string, d time.Duration, burn bool) (Contact, error) {
	if d < 0 || d > message.MaxTimer*time.Second {
		return Contact{}, fmt.Errorf("messenger: timer %v out of range (0 to one year)", d)
	}
	if d > 0 && d < time.Second {
		d = time.Second
	}
	secs := uint32(d / time.Second)
	if secs == 0 {
		burn = false
	}
	var out Contact
	var notices []Message
	_, err := m.updateContact(name, func(t *vault.Tx, c *contactRec) error {
		notices = notices[:0]
		if err := c.canSend(); err != nil {
			return err
		}
		c.Timer, c.TimerBurn = secs, burn
		e := message.Expiry{Timer: secs, BurnOnRead: burn}
		notice := &noticeRec{Type: "timer", By: "me", Timer: secs, Burn: burn}
		sess, err := m.sessionIn(t, c.ID)
		if err != nil {
			return err
		}
		// The notice disappears like the messages it announces.
		hist := &msgRec{Kind: KindNotice, Notice: notice, Outgoing: true}
		pm, err := m.queueWith(t, c, sess, message.TimerChange(e), e, hist)
		if err != nil {
			return err
		}
		notices = append(notices, *pm)
		out = c.public()
		return nil
	})
	for _, pm := range notices {
		m.hub.post(MessageAdded{Message: pm})
	}
	return out, err
}

// canSend: a request by another identity (KeyChanged) does not stop
// sending, which goes on with the identity the conversation is with.
func (c *contactRec) canSend() error {
	switch {
	case c.Blocked:
		return ErrBlocked
	case c.Refused != "":
		return ErrInviteRefused
	case c.ResetPending != 0:
		return ErrResetPending
	}
	return nil
}

// sessionIn returns the session with a contact: the one in memory, or
// the vault's copy. Callers hold m.mu; the vault's copy is rewritten with
// every change (putSession, sealFor), and the memory is dropped whenever
// a transaction fails (m.update), so the two never differ for long.
func (m *Messenger) sessionIn(t *vault.Tx, contact string) (*session.Session, error) {
	if s := m.sessions[contact]; s != nil {
		return s, nil
	}
	b, err := t.Session(contact)
	if err != nil {
		return nil, fmt.Errorf("messenger: session: %w", err)
	}
	s := new(session.Session)
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("messenger: session: %w", err)
	}
	m.sessions[contact] = s
	return s, nil
}

// update runs a vault transaction; if it fails, the sessions in memory,
// which it may have advanced, are forgotten.
func (m *Messenger) update(fn func(*vault.Tx) error) error {
	err := m.v.Update(func(t *vault.Tx) error {
		if err := fn(t); err != nil {
			return err
		}
		return m.flushOut(t)
	})
	clear(m.out)
	m.outOrder = m.outOrder[:0]
	clear(m.dirty)
	if err != nil {
		clear(m.sessions)
	}
	return err
}
