package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/mlkem"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// The handshake header sent in front of the initiator's first messages:
//
//	0x01 ‖ Ed25519 identity (32) ‖ X25519 identity (32) ‖ ephemeral (32) ‖
//	spkID u32 ‖ flags u8 ‖ opkID u32 ‖ kemID u32 ‖ KEM ciphertext (1088)
//
// flags bit 0: a one-time X25519 prekey was used (else opkID is 0);
// bit 1: the KEM key is a one-time key (else the last-resort key).
const (
	initialSize       = 1 + 32 + 32 + 32 + 4 + 1 + 4 + 4 + kemCTSize
	initialHasOPK     = 1 << 0
	initialOneTimeKEM = 1 << 1
)

type initialHeader struct {
	identity   PublicIdentity
	ephemeral  *ecdh.PublicKey
	spkID      uint32
	flags      byte
	opkID      uint32
	kemID      uint32
	ciphertext []byte
}

func (h *initialHeader) marshal() []byte {
	w := writer{b: make([]byte, 0, initialSize)}
	w.u8(formatVersion)
	w.fixed(h.identity.Signing)
	w.fixed(h.identity.DH.Bytes())
	w.fixed(h.ephemeral.Bytes())
	w.u32(h.spkID)
	w.u8(h.flags)
	w.u32(h.opkID)
	w.u32(h.kemID)
	w.fixed(h.ciphertext)
	return w.b
}

func parseInitial(b []byte) (*initialHeader, error) {
	r := reader{b: b}
	r.expect(formatVersion, "handshake version")
	h := &initialHeader{}
	h.identity.Signing = ed25519.PublicKey(r.take(32, "initiator signing key"))
	idx := r.take(32, "initiator X25519 key")
	ek := r.take(32, "ephemeral key")
	h.spkID = r.u32("signed prekey id")
	h.flags = r.u8("handshake flags")
	h.opkID = r.u32("one-time prekey id")
	h.kemID = r.u32("KEM prekey id")
	h.ciphertext = r.take(kemCTSize, "KEM ciphertext")
	if r.err == nil && h.flags&^(initialHasOPK|initialOneTimeKEM) != 0 {
		r.fail("handshake flags 0x%02x", h.flags)
	}
	if r.err == nil && h.flags&initialHasOPK == 0 && h.opkID != 0 {
		r.fail("one-time prekey id %d without the flag", h.opkID)
	}
	if err := r.done("handshake header"); err != nil {
		return nil, err
	}
	var err error
	if h.identity.DH, err = ecdh.X25519().NewPublicKey(idx); err != nil {
		return nil, fmt.Errorf("%w: initiator X25519 key: %v", ErrMalformed, err)
	}
	if h.ephemeral, err = ecdh.X25519().NewPublicKey(ek); err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrMalformed, err)
	}
	return h, nil
}

// parseSessionAD recovers the two identities from a session AD.
func parseSessionAD(ad []byte) (ini, resp PublicIdentity, err error) {
	r := reader{b: ad}
	r.take(len(labelSessionAD)+1, "label")
	read := func() PublicIdentity {
		var p PublicIdentity
		r.expect(tagEd25519, "tag")
		p.Signing = ed25519.PublicKey(r.take(32, "signing key"))
		r.expect(tagX25519, "tag")
		if b := r.take(32, "X25519 key"); b != nil {
			var e error
			if p.DH, e = ecdh.X25519().NewPublicKey(b); e != nil {
				r.fail("X25519 key: %v", e)
			}
		}
		return p
	}
	ini = read()
	resp = read()
	err = r.done("session AD")
	return
}

// pqxdh derives SK ‖ HKa ‖ NHKb (96 bytes):
//
//	HKDF-SHA-256(IKM = 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 ‖ [DH4] ‖ SS, salt = 0×32,
//	             info = label ‖ 0 ‖ SHA-256(transcript))
//
// where the transcript is the type-prefixed public keys in order: IKa
// (Ed25519, X25519), IKb (Ed25519, X25519), EKa, SPKb, [OPKb], PQPKb, CT.
func pqxdh(dhs [][]byte, ss []byte, transcript []byte) []byte {
	ikm := bytes.Repeat([]byte{0xFF}, 32)
	for _, d := range dhs {
		ikm = append(ikm, d...)
	}
	ikm = append(ikm, ss...)
	th := sha256.Sum256(transcript)
	info := string(append(append([]byte(labelPQXDH), 0), th[:]...))
	out, err := hkdf.Key(sha256.New, ikm, make([]byte, 32), info, 3*keySize)
	clear(ikm)
	if err != nil {
		panic("session: hkdf: " + err.Error())
	}
	return out
}

func transcript(ini, resp PublicIdentity, ek, spk, opk, pqpk, ct []byte) []byte {
	b := appendIdentity(nil, ini)
	b = appendIdentity(b, resp)
	b = append(append(b, tagX25519), ek...)
	b = append(append(b, tagX25519), spk...)
	if opk != nil {
		b = append(append(b, tagX25519), opk...)
	}
	b = append(append(b, tagMLKEMEK), pqpk...)
	return append(append(b, tagMLKEMCT), ct...)
}

// orDefault returns r, or crypto/rand's reader when r is nil.
func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}

// Initiate starts a session with peer from a bundle and a claimed entry
// (a one-time entry, a last-resort marker, or nil for the last-resort key)
// as returned by the relay; rand (nil means crypto/rand) supplies every
// key the session generates, now and later. It checks that the bundle belongs to peer and
// that every prekey signature verifies. The returned session can Encrypt
// at once; its messages carry the handshake until the first reply.
func Initiate(ours Identity, peer PublicIdentity, bundle, entry []byte, rand io.Reader) (*Session, error) {
	rand = orDefault(rand)
	if err := ours.check(); err != nil {
		return nil, err
	}
	b, err := ParseBundle(bundle)
	if err != nil {
		return nil, fmt.Errorf("session: prekey bundle: %w", err)
	}
	if !b.Identity.Equal(peer) {
		return nil, ErrIdentityMismatch
	}
	e := &PrekeyEntry{LastResort: true, LastResortID: b.LastResort.ID}
	if entry != nil {
		if e, err = ParseEntry(entry); err != nil {
			return nil, fmt.Errorf("session: prekey entry: %w", err)
		}
	}
	h := &initialHeader{identity: ours.Public(), spkID: b.SignedX.ID}
	var opk []byte
	pqpk, kemID, ek := b.LastResort.Key, b.LastResort.ID, (*mlkem.EncapsulationKey768)(nil)
	if e.LastResort {
		if e.LastResortID != b.LastResort.ID {
			return nil, fmt.Errorf("%w: last-resort marker names key %d, bundle has %d", ErrUnknownPrekey, e.LastResortID, b.LastResort.ID)
		}
	} else {
		if e.X25519 != nil {
			opk = e.X25519
			h.flags |= initialHasOPK
			h.opkID = e.X25519ID
		}
		if e.KEM != nil {
			if err := verify(sigOneTimeKEM, peer.Signing, *e.KEM, "one-time KEM prekey"); err != nil {
				return nil, err
			}
			pqpk, kemID, ek = e.KEM.Key, e.KEM.ID, e.kemEK
			h.flags |= initialOneTimeKEM
		}
	}
	h.kemID = kemID
	if ek == nil {
		if ek, err = mlkem.NewEncapsulationKey768(pqpk); err != nil {
			return nil, fmt.Errorf("%w: last-resort KEM prekey: %v", ErrMalformed, err)
		}
	}

	eph, err := newX25519(rand)
	if err != nil {
		return nil, err
	}
	h.ephemeral = eph.PublicKey()
	spk, _ := ecdh.X25519().NewPublicKey(b.SignedX.Key) // checked by ParseBundle
	var dhs [][]byte
	for _, p := range []struct {
		priv *ecdh.PrivateKey
		pub  *ecdh.PublicKey
	}{{ours.DH, spk}, {eph, peer.DH}, {eph, spk}} {
		d, err := dh(p.priv, p.pub)
		if err != nil {
			return nil, err
		}
		dhs = append(dhs, d)
	}
	if opk != nil {
		pub, _ := ecdh.X25519().NewPublicKey(opk) // checked by ParseEntry
		d, err := dh(eph, pub)
		if err != nil {
			return nil, err
		}
		dhs = append(dhs, d)
	}
	ss, ct := ek.Encapsulate()
	h.ciphertext = ct
	keys := pqxdh(dhs, ss, transcript(ours.Public(), peer, h.ephemeral.Bytes(), b.SignedX.Key, opk, pqpk, ct))
	for _, d := range dhs {
		clear(d)
	}
	clear(ss)
	defer clear(keys)

	s := &Session{rand: rand, initiator: true, ad: sessionAD(ours.Public(), peer), initial: h.marshal()}
	var sk [keySize]byte
	copy(sk[:], keys)
	copy(s.st.hks[:], keys[keySize:])
	copy(s.st.nhkr[:], keys[2*keySize:])
	s.st.hasHKs = true
	s.st.dhr = spk
	copy(s.st.rk[:], sk[:])
	clear(sk[:])
	if err := s.st.sendStep(rand); err != nil {
		return nil, err
	}
	return s, nil
}

// Respond answers a prekey message (the initiator's first message, which
// carries the handshake): it derives the session, decrypts the message and
// only then deletes the one-time prekeys used from store. On any error the
// store is unchanged. ad is the caller's associated data, as in Decrypt.
//
// A prekey message made with the last-resort KEM key and no one-time
// X25519 key can be replayed to make a second session; callers drop
// duplicates by message id (see docs/E2E-SESSION.md).
func Respond(ours Identity, store *PrekeyStore, msg, ad []byte, rand io.Reader) (*Session, []byte, error) {
	rand = orDefault(rand)
	if err := ours.check(); err != nil {
		return nil, nil, err
	}
	if !ours.Public().Equal(store.identity) {
		return nil, nil, errors.New("session: identity does not own this prekey store")
	}
	m, err := parseMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	if m.initial == nil {
		return nil, nil, fmt.Errorf("%w: not a prekey message", ErrMalformed)
	}
	h, err := parseInitial(m.initial)
	if err != nil {
		return nil, nil, err
	}
	spk := store.findSignedX(h.spkID)
	if spk == nil {
		return nil, nil, fmt.Errorf("%w: signed prekey %d", ErrUnknownPrekey, h.spkID)
	}
	var opk *ecdh.PrivateKey
	if h.flags&initialHasOPK != 0 {
		if opk = store.oneTimeX[h.opkID]; opk == nil {
			return nil, nil, fmt.Errorf("%w: one-time prekey %d", ErrUnknownPrekey, h.opkID)
		}
	}
	var kem *mlkem.DecapsulationKey768
	if h.flags&initialOneTimeKEM != 0 {
		kem = store.oneTimeKEM[h.kemID]
	} else {
		kem = store.findLastResort(h.kemID)
	}
	if kem == nil {
		return nil, nil, fmt.Errorf("%w: KEM prekey %d", ErrUnknownPrekey, h.kemID)
	}
	var dhs [][]byte
	for _, p := range []struct {
		priv *ecdh.PrivateKey
		pub  *ecdh.PublicKey
	}{{spk, h.identity.DH}, {ours.DH, h.ephemeral}, {spk, h.ephemeral}} {
		d, err := dh(p.priv, p.pub)
		if err != nil {
			return nil, nil, err
		}
		dhs = append(dhs, d)
	}
	var opkPub []byte
	if opk != nil {
		d, err := dh(opk, h.ephemeral)
		if err != nil {
			return nil, nil, err
		}
		dhs = append(dhs, d)
		opkPub = opk.PublicKey().Bytes()
	}
	ss, err := kem.Decapsulate(h.ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KEM ciphertext: %v", ErrMalformed, err)
	}
	me := ours.Public()
	keys := pqxdh(dhs, ss, transcript(h.identity, me, h.ephemeral.Bytes(), spk.PublicKey().Bytes(), opkPub, kem.EncapsulationKey().Bytes(), h.ciphertext))
	for _, d := range dhs {
		clear(d)
	}
	clear(ss)
	defer clear(keys)

	s := &Session{rand: rand, ad: sessionAD(h.identity, me), initialHash: sha256.Sum256(m.initial)}
	copy(s.st.rk[:], keys)
	copy(s.st.nhkr[:], keys[keySize:])
	copy(s.st.nhks[:], keys[2*keySize:])
	s.st.dhs = spk
	pt, err := s.decrypt(m, ad)
	if err != nil {
		s.st.wipe()
		return nil, nil, err
	}
	if opk != nil {
		delete(store.oneTimeX, h.opkID)
	}
	if h.flags&initialOneTimeKEM != 0 {
		delete(store.oneTimeKEM, h.kemID)
	}
	return s, pt, nil
}
