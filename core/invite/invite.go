package invite

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Version is the version byte of the invite encoding. Version 2 has the
// encoding of version 1 and says that the inviter speaks the messenger's
// protocol version 2 (messages bound to their mailboxes, see
// docs/PROTOCOL.md section 26): a client of either version refuses the
// other's invites with a clear error instead of meeting a contact it
// cannot read.
const Version = 2

// Limits of the encoding.
const (
	IDSize       = 16
	MaxURLBytes  = 255
	fixedSize    = 1 + 1 + IDSize + 4 + 5*32 + 2 + 1 + ed25519.SignatureSize
	MaxBinary    = fixedSize + identity.MaxPseudonymBytes + MaxURLBytes
	flagOneTime  = 0x01
	knownFlags   = flagOneTime
	labelInvite  = "ephemera/invite/v1"
	checksumSize = 4
)

// Errors wrapped by Parse and ParseBinary; test for them with errors.Is.
var (
	ErrMalformed          = errors.New("invite: malformed invite code")
	ErrChecksum           = errors.New("invite code is mistyped")
	ErrBadSignature       = errors.New("invite: bad signature")
	ErrExpired            = errors.New("invite: expired")
	ErrUnsupportedVersion = errors.New("invite: made by a newer version of Ephemera (unsupported version)")
	// ErrOldVersion: the invite's version is older than Version; its
	// maker cannot read what we would send.
	ErrOldVersion = errors.New("invite: made by an older version of Ephemera, which must be updated; ask for a new invite")
	// ErrBundleMismatch: a Bundle is not the one the invite names.
	ErrBundleMismatch = errors.New("invite: identity bundle does not match the invite")
)

// An Invite is a decoded, verified invite, or one made by New. Its fields
// mirror the encoding; changing them after New makes the signature invalid.
// Invites are not modified by their methods and are safe for concurrent
// reads.
type Invite struct {
	ID        [IDSize]byte
	Expires   time.Time // whole seconds, UTC
	OneTime   bool
	Mailbox   wire.MailboxID
	SendToken wire.Key32
	RelayURL  string

	Pseudonym         string
	SigningKey        ed25519.PublicKey
	DHKey             []byte   // X25519 identity public key
	EnvelopeKeyDigest [32]byte // SHA-256 of the HPKE envelope public key

	Signature []byte
}

// Params are the inviter's choices for New.
type Params struct {
	RelayURL  string // normalised with wsconn.NormalizeURL
	Mailbox   wire.MailboxID
	SendToken wire.Key32
	Expires   time.Time // truncated to whole seconds; 1970 to 2106
	OneTime   bool
}

// New makes and signs an invite from id. The invite id is read from rand
// (crypto/rand when nil).
func New(id *identity.Identity, p Params, rand io.Reader) (*Invite, error) {
	u, err := wsconn.NormalizeURL(p.RelayURL)
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	if len(u) > MaxURLBytes {
		return nil, fmt.Errorf("invite: relay URL is %d bytes, limit %d", len(u), MaxURLBytes)
	}
	exp := p.Expires.Unix()
	if exp <= 0 || exp > math.MaxUint32 {
		return nil, fmt.Errorf("invite: expiry %v out of range", p.Expires)
	}
	if p.Mailbox == (wire.MailboxID{}) || p.SendToken.IsZero() {
		return nil, fmt.Errorf("invite: mailbox id and send token must not be zero")
	}
	b := id.Bundle()
	inv := &Invite{
		Expires:           time.Unix(exp, 0).UTC(),
		OneTime:           p.OneTime,
		Mailbox:           p.Mailbox,
		SendToken:         p.SendToken,
		RelayURL:          u,
		Pseudonym:         b.Pseudonym,
		SigningKey:        b.SigningKey,
		DHKey:             b.DHKey,
		EnvelopeKeyDigest: b.EnvelopeKeyDigest(),
	}
	if err := readRandom(rand, inv.ID[:]); err != nil {
		return nil, fmt.Errorf("invite: reading randomness: %w", err)
	}
	inv.Signature = id.Sign(labelInvite, inv.body())
	return inv, nil
}

func readRandom(r io.Reader, b []byte) error {
	if r == nil {
		_, err := rand.Read(b)
		return err
	}
	_, err := io.ReadFull(r, b)
	return err
}

// body is the signed part of the encoding.
func (inv *Invite) body() []byte {
	b := make([]byte, 0, fixedSize+len(inv.Pseudonym)+len(inv.RelayURL))
	var flags byte
	if inv.OneTime {
		flags |= flagOneTime
	}
	b = append(b, Version, flags)
	b = append(b, inv.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(inv.Expires.Unix()))
	b = append(b, inv.Mailbox[:]...)
	b = append(b, inv.SendToken[:]...)
	b = append(b, inv.SigningKey...)
	b = append(b, inv.DHKey...)
	b = append(b, inv.EnvelopeKeyDigest[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(inv.Pseudonym)))
	b = append(b, inv.Pseudonym...)
	b = append(b, byte(len(inv.RelayURL)))
	b = append(b, inv.RelayURL...)
	return b
}

// Marshal returns the binary form: the body and its signature.
func (inv *Invite) Marshal() []byte {
	return append(inv.body(), inv.Signature...)
}

// ParseBinary decodes and verifies the binary form, and checks that the
// invite has not expired at now. Errors wrap ErrMalformed,
// ErrUnsupportedVersion, ErrBadSignature or ErrExpired.
func ParseBinary(data []byte, now time.Time) (*Invite, error) {
	if len(data) > MaxBinary {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxBinary)
	}
	r := reader{b: data}
	v := r.byte("version")
	if r.err == nil && v < Version {
		return nil, fmt.Errorf("%w: version %d", ErrOldVersion, v)
	}
	if r.err == nil && v > Version {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupportedVersion, v)
	}
	flags := r.byte("flags")
	if r.err == nil && flags&^knownFlags != 0 {
		r.fail("unknown flags %#02x", flags)
	}
	inv := &Invite{OneTime: flags&flagOneTime != 0}
	copy(inv.ID[:], r.fixed(IDSize, "invite id"))
	if e := r.fixed(4, "expiry"); e != nil {
		inv.Expires = time.Unix(int64(binary.BigEndian.Uint32(e)), 0).UTC()
	}
	copy(inv.Mailbox[:], r.fixed(32, "mailbox id"))
	copy(inv.SendToken[:], r.fixed(32, "send token"))
	inv.SigningKey = bytes.Clone(r.fixed(ed25519.PublicKeySize, "Ed25519 key"))
	inv.DHKey = bytes.Clone(r.fixed(32, "X25519 key"))
	copy(inv.EnvelopeKeyDigest[:], r.fixed(32, "envelope key digest"))
	inv.Pseudonym = string(r.fixed(r.u16("pseudonym length"), "pseudonym"))
	inv.RelayURL = string(r.fixed(int(r.byte("relay URL length")), "relay URL"))
	inv.Signature = bytes.Clone(r.fixed(ed25519.SignatureSize, "signature"))
	if r.err == nil && r.off != len(data) {
		r.fail("%d trailing bytes", len(data)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := inv.checkFields(); err != nil {
		return nil, err
	}
	if !identity.VerifyLabeled(inv.SigningKey, labelInvite, data[:len(data)-ed25519.SignatureSize], inv.Signature) {
		return nil, fmt.Errorf("%w (invite from %q)", ErrBadSignature, inv.Pseudonym)
	}
	if !now.Before(inv.Expires) {
		return nil, fmt.Errorf("%w: invite from %q expired at %s", ErrExpired, inv.Pseudonym, inv.Expires.Format(time.RFC3339))
	}
	return inv, nil
}

func (inv *Invite) checkFields() error {
	if inv.Expires.Unix() == 0 {
		return fmt.Errorf("%w: zero expiry", ErrMalformed)
	}
	if inv.Mailbox == (wire.MailboxID{}) {
		return fmt.Errorf("%w: zero mailbox id", ErrMalformed)
	}
	if inv.SendToken.IsZero() {
		return fmt.Errorf("%w: zero send token", ErrMalformed)
	}
	if name, err := identity.ValidatePseudonym(inv.Pseudonym); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	} else if name != inv.Pseudonym {
		return fmt.Errorf("%w: pseudonym has leading or trailing white space", ErrMalformed)
	}
	if _, err := identity.ParseDHPublicKey(inv.DHKey); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	u, err := wsconn.NormalizeURL(inv.RelayURL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if u != inv.RelayURL {
		return fmt.Errorf("%w: relay URL %q is not in normal form (%q)", ErrMalformed, inv.RelayURL, u)
	}
	return nil
}

// MatchBundle checks that b is a valid Bundle of the inviter: the same
// Ed25519 and X25519 keys and the envelope key the invite commits to. The
// pseudonym may differ (the inviter may have renamed themselves since).
func (inv *Invite) MatchBundle(b *identity.Bundle) error {
	if err := b.Verify(); err != nil {
		return fmt.Errorf("%w: %w", ErrBundleMismatch, err)
	}
	d := b.EnvelopeKeyDigest()
	ok := subtle.ConstantTimeCompare(b.SigningKey, inv.SigningKey) &
		subtle.ConstantTimeCompare(b.DHKey, inv.DHKey) &
		subtle.ConstantTimeCompare(d[:], inv.EnvelopeKeyDigest[:])
	if ok != 1 {
		return fmt.Errorf("%w (invite from %q)", ErrBundleMismatch, inv.Pseudonym)
	}
	return nil
}

// QRPayload returns the bytes to put in a QR code: the text form.
func (inv *Invite) QRPayload() []byte { return []byte(inv.String()) }

// QRCodePNG renders the invite as a size×size PNG QR code.
func (inv *Invite) QRCodePNG(size int) ([]byte, error) {
	return identity.QRCodePNG(inv.QRPayload(), size)
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) fixed(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail("truncated in %s at byte %d (need %d, have %d)", field, r.off, n, len(r.b)-r.off)
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *reader) byte(field string) byte {
	if v := r.fixed(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(field string) int {
	if v := r.fixed(2, field); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}
