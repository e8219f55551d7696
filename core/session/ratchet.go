package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Ratchet limits.
const (
	// MaxSkip is the largest number of message keys one message may make
	// the receiver skip (in the old and the new chain together).
	MaxSkip = 25000
	// MaxSkipped is how many skipped message keys a session stores; the
	// oldest are dropped first.
	MaxSkipped = 2000
	// MaxMessageSize bounds an encoded message.
	MaxMessageSize = 16 << 20
)

// Message kinds (second byte of every message).
const (
	kindPrekeyMessage  byte = 'P' // initial header ‖ ratchet message
	kindRatchetMessage byte = 'M'

	kemProposed byte = 1 // header carries a new encapsulation key only
	kemAccepted byte = 2 // header carries a new encapsulation key and a ciphertext

	headerSizeProposed = x25519Size + 4 + 4 + 1 + kemEKSize
	headerSizeAccepted = headerSizeProposed + kemCTSize
	headerOverhead     = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// header is the plaintext ratchet header:
//
//	dh (32) ‖ pn u32 ‖ n u32 ‖ kem kind u8 ‖ ek (1184) ‖ [ct (1088)]
type header struct {
	dh []byte
	pn uint32
	n  uint32
	ek []byte
	ct []byte // nil when proposed
}

func (h *header) marshal() []byte {
	w := writer{b: make([]byte, 0, headerSizeAccepted)}
	w.fixed(h.dh)
	w.u32(h.pn)
	w.u32(h.n)
	if h.ct == nil {
		w.u8(kemProposed)
	} else {
		w.u8(kemAccepted)
	}
	w.fixed(h.ek)
	w.fixed(h.ct)
	return w.b
}

func parseHeader(b []byte) (*header, error) {
	r := reader{b: b}
	h := &header{}
	h.dh = r.take(x25519Size, "header DH key")
	h.pn = r.u32("header PN")
	h.n = r.u32("header N")
	kind := r.u8("header KEM kind")
	h.ek = r.take(kemEKSize, "header KEM key")
	switch {
	case r.err != nil:
	case kind == kemAccepted:
		h.ct = r.take(kemCTSize, "header KEM ciphertext")
	case kind != kemProposed:
		r.fail("header KEM kind 0x%02x", kind)
	}
	if err := r.done("header"); err != nil {
		return nil, err
	}
	return h, nil
}

type skippedKey struct {
	hk [keySize]byte
	n  uint32
	mk [keySize]byte
}

// state is the copyable part of a session. Pointers in it point to
// immutable values (keys, header KEM bytes) that are replaced, never
// modified, so a copy of state is an independent scratch state.
type state struct {
	dhs     *ecdh.PrivateKey // nil between a receiving step and our reply
	dhr     *ecdh.PublicKey
	kemPriv *mlkem.DecapsulationKey768 // nil until our first own ratchet step (responder)
	kemPeer []byte                     // their current encapsulation key
	sendKEM []byte                     // kind ‖ ek ‖ [ct] of the current sending chain

	rk, cks, ckr, hks, hkr, nhks, nhkr [keySize]byte
	hasCKs, hasCKr, hasHKs, hasHKr     bool
	ns, nr, pn                         uint32
}

func (st *state) wipe() {
	clear(st.rk[:])
	clear(st.cks[:])
	clear(st.ckr[:])
	clear(st.hks[:])
	clear(st.hkr[:])
	clear(st.nhks[:])
	clear(st.nhkr[:])
}

// Session is one end of a Double Ratchet conversation. It is not safe for
// concurrent use. The zero value is not usable: make one with Initiate,
// Respond or UnmarshalBinary.
type Session struct {
	rand      io.Reader
	initiator bool
	ad        []byte // sessionAD(initiator, responder)
	// initial is, on the initiator, the handshake header sent in front of
	// every message until the first reply arrives; on the responder, nil.
	initial []byte
	// initialHash is, on the responder, SHA-256 of the handshake header
	// the session came from (so later prekey messages are accepted).
	initialHash [32]byte

	st      state
	skipped []skippedKey
	buf     []byte // reused for headers and associated data

	// prev is the session this one replaced (KeepPrevious), kept to
	// decrypt what the peer sent before it learned of this one. It never
	// encrypts, and has no prev of its own.
	prev *Session
}

// KeepPrevious keeps old inside s for decryption only: messages the peer
// encrypted in old before it learned of s (in flight, or waiting in a
// mailbox) still open, while everything s sends uses its own keys. One
// previous session is kept; old's own previous one is dropped. old must
// not be used afterwards.
func (s *Session) KeepPrevious(old *Session) {
	if old == nil || old == s {
		return
	}
	old.prev = nil
	old.buf = nil
	s.prev = old
}

// SetRand sets the source of randomness for ratchet keys and header
// nonces (crypto/rand by default, after UnmarshalBinary).
func (s *Session) SetRand(r io.Reader) {
	s.rand = orDefault(r)
	if s.prev != nil {
		s.prev.rand = s.rand
	}
}

// Peer returns the other side's identity.
func (s *Session) Peer() PublicIdentity {
	ini, resp, _ := parseSessionAD(s.ad)
	if s.initiator {
		return resp
	}
	return ini
}

// Encrypt encrypts plaintext with the next message key; ad is extra
// associated data the receiver must pass to Decrypt. On the initiator, the
// message carries the handshake until the first reply is decrypted.
func (s *Session) Encrypt(plaintext, ad []byte) ([]byte, error) {
	if s.st.dhr == nil || !s.st.hasHKs {
		return nil, errors.New("session: no sending chain yet")
	}
	if s.st.ns == ^uint32(0) {
		return nil, errors.New("session: sending chain exhausted")
	}
	if len(plaintext) > MaxMessageSize-4096 {
		return nil, fmt.Errorf("session: plaintext is %d bytes, limit %d", len(plaintext), MaxMessageSize-4096)
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := io.ReadFull(s.rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("session: reading randomness: %w", err)
	}
	st := &s.st
	var scratch state
	if !s.st.hasCKs {
		// First message since the peer's last new chain: the sending half
		// of the ratchet step, committed only if everything succeeds.
		scratch = s.st
		if err := scratch.sendStep(s.rand); err != nil {
			scratch.wipe()
			return nil, err
		}
		st = &scratch
	}
	mk, next := kdfChain(&st.cks)
	defer clear(mk[:])

	hdr := s.buf[:0]
	hdr = append(hdr, st.dhs.PublicKey().Bytes()...)
	hdr = binary.BigEndian.AppendUint32(hdr, st.pn)
	hdr = binary.BigEndian.AppendUint32(hdr, st.ns)
	hdr = append(hdr, st.sendKEM...)

	out := make([]byte, 0, 2+len(s.initial)+2+len(hdr)+headerOverhead+len(plaintext)+chacha20poly1305.Overhead)
	out = append(out, formatVersion)
	if s.initial != nil {
		out = append(out, kindPrekeyMessage)
		out = append(out, s.initial...)
	} else {
		out = append(out, kindRatchetMessage)
	}
	rm := len(out)
	out = binary.BigEndian.AppendUint16(out, uint16(len(hdr)+headerOverhead))
	out = append(out, nonce[:]...)
	hk, _ := chacha20poly1305.NewX(st.hks[:])
	out = hk.Seal(out, nonce[:], hdr, s.ad)
	encHeader := out[rm+2:]

	aead, _ := chacha20poly1305.New(mk[:])
	var zero [chacha20poly1305.NonceSize]byte
	s.buf = messageAD(hdr[:0], s.ad, encHeader, ad)
	out = aead.Seal(out, zero[:], plaintext, s.buf)

	if st == &scratch {
		s.st = scratch // overwrites the old keys in place
		scratch.wipe()
	}
	s.st.cks = next
	clear(next[:])
	s.st.ns++
	return out, nil
}

// messageAD is the body's associated data: session AD ‖ len u16 ‖
// encrypted header ‖ caller's ad.
func messageAD(buf, sessAD, encHeader, ad []byte) []byte {
	b := append(buf[:0], sessAD...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(encHeader)))
	b = append(b, encHeader...)
	return append(b, ad...)
}

// ratchetMessage is a parsed message: the optional handshake header, the
// encrypted header and the body.
type ratchetMessage struct {
	initial   []byte
	encHeader []byte
	body      []byte
}

func parseMessage(msg []byte) (*ratchetMessage, error) {
	if len(msg) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message is %d bytes, limit %d", ErrMalformed, len(msg), MaxMessageSize)
	}
	r := reader{b: msg}
	r.expect(formatVersion, "message version")
	m := &ratchetMessage{}
	switch kind := r.u8("message kind"); {
	case r.err != nil:
	case kind == kindPrekeyMessage:
		m.initial = r.take(initialSize, "handshake header")
	case kind != kindRatchetMessage:
		r.fail("message kind 0x%02x", kind)
	}
	n := int(r.u16("encrypted header length"))
	if r.err == nil && n != headerSizeProposed+headerOverhead && n != headerSizeAccepted+headerOverhead {
		r.fail("encrypted header length %d", n)
	}
	m.encHeader = r.take(n, "encrypted header")
	if r.err == nil && len(r.b) < chacha20poly1305.Overhead {
		r.fail("body is %d bytes, shorter than the tag", len(r.b))
	}
	m.body = r.take(len(r.b), "body")
	if err := r.done("message"); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *ratchetMessage) marshal() []byte {
	out := []byte{formatVersion, kindRatchetMessage}
	if m.initial != nil {
		out[1] = kindPrekeyMessage
		out = append(out, m.initial...)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(m.encHeader)))
	out = append(out, m.encHeader...)
	return append(out, m.body...)
}

// openHeader decrypts a header into s.buf; the header's slices point into
// s.buf and are valid until its next use.
func (s *Session) openHeader(hk *[keySize]byte, encHeader []byte) (*header, bool) {
	aead, _ := chacha20poly1305.NewX(hk[:])
	ns := chacha20poly1305.NonceSizeX
	pt, err := aead.Open(s.buf[:0], encHeader[:ns], encHeader[ns:], s.ad)
	if cap(pt) > cap(s.buf) {
		s.buf = pt
	}
	if err != nil {
		return nil, false
	}
	h, err := parseHeader(pt)
	if err != nil {
		// Authenticated but malformed: only a holder of the header key
		// could produce it; treat it as a forgery all the same.
		return nil, false
	}
	return h, true
}

func (s *Session) openBody(mk *[keySize]byte, m *ratchetMessage, ad []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.New(mk[:])
	var zero [chacha20poly1305.NonceSize]byte
	s.buf = messageAD(s.buf, s.ad, m.encHeader, ad)
	pt, err := aead.Open(nil, zero[:], m.body, s.buf)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Decrypt authenticates and decrypts a message, in this session or else
// in the previous one (KeepPrevious). The first message that opens in
// this session drops the previous one: the peer has it, so whoever still
// holds the old state (a stolen backup) can no longer write in it. It is
// all-or-nothing: on any error the session is exactly as before (compare
// MarshalBinary).
func (s *Session) Decrypt(msg, ad []byte) ([]byte, error) {
	m, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	pt, err := s.decryptCurrent(m, ad)
	if err != nil && s.prev != nil {
		if ppt, perr := s.prev.decryptCurrent(m, ad); perr == nil {
			return ppt, nil
		}
	}
	if err == nil {
		s.DropPrevious()
	}
	return pt, err
}

// DropPrevious forgets the previous session (KeepPrevious), so that
// nothing encrypted in it opens any more.
func (s *Session) DropPrevious() {
	if s.prev != nil {
		s.prev.st.wipe()
		s.prev = nil
	}
}

// HasPrevious reports whether a previous session is kept (KeepPrevious).
func (s *Session) HasPrevious() bool { return s.prev != nil }

func (s *Session) decryptCurrent(m *ratchetMessage, ad []byte) ([]byte, error) {
	if m.initial != nil {
		if s.initiator || sha256.Sum256(m.initial) != s.initialHash {
			return nil, fmt.Errorf("%w: handshake header does not belong to this session", ErrDecrypt)
		}
	}
	return s.decrypt(m, ad)
}

func (s *Session) decrypt(m *ratchetMessage, ad []byte) ([]byte, error) {
	// 1. The current receiving chain (and its skipped keys).
	if s.st.hasHKr {
		if h, ok := s.openHeader(&s.st.hkr, m.encHeader); ok {
			if h.n < s.st.nr {
				return s.trySkipped(&s.st.hkr, h, m, ad)
			}
			scratch := s.st
			var pending []skippedKey
			if err := scratch.skipTo(h.n, &pending); err != nil {
				return nil, err
			}
			return s.finish(&scratch, pending, m, ad)
		}
	}
	// 2. Skipped keys of older chains, one header trial per chain.
	var tried [][keySize]byte
	for i := range s.skipped {
		hk := &s.skipped[i].hk
		if (s.st.hasHKr && *hk == s.st.hkr) || containsKey(tried, hk) {
			continue
		}
		tried = append(tried, *hk)
		if h, ok := s.openHeader(hk, m.encHeader); ok {
			return s.trySkipped(hk, h, m, ad)
		}
	}
	// 3. A new chain: a DH (and KEM) ratchet step.
	h, ok := s.openHeader(&s.st.nhkr, m.encHeader)
	if !ok {
		return nil, ErrDecrypt
	}
	if s.st.hasCKr && !s.st.hasCKs {
		// We have not answered the peer's newest chain, so it cannot
		// have started another one.
		return nil, fmt.Errorf("%w: new chain before our reply", ErrDecrypt)
	}
	if s.st.hasCKr && h.pn < s.st.nr {
		return nil, fmt.Errorf("%w: previous chain length %d below received %d", ErrDecrypt, h.pn, s.st.nr)
	}
	skip := uint64(h.n)
	if s.st.hasCKr {
		skip += uint64(h.pn - s.st.nr)
	}
	if skip > MaxSkip {
		return nil, fmt.Errorf("%w: %d keys to skip, limit %d", ErrTooFarAhead, skip, MaxSkip)
	}
	scratch := s.st
	var pending []skippedKey
	if s.st.hasCKr {
		if err := scratch.skipTo(h.pn, &pending); err != nil {
			return nil, err
		}
	}
	if err := scratch.receiveStep(h); err != nil {
		scratch.wipe()
		return nil, err
	}
	if err := scratch.skipTo(h.n, &pending); err != nil {
		scratch.wipe()
		return nil, err
	}
	return s.finish(&scratch, pending, m, ad)
}

func containsKey(list [][keySize]byte, k *[keySize]byte) bool {
	for i := range list {
		if list[i] == *k {
			return true
		}
	}
	return false
}

// finish derives the message key at scratch's receiving position, opens
// the body and, only if it verifies, commits scratch and pending.
func (s *Session) finish(scratch *state, pending []skippedKey, m *ratchetMessage, ad []byte) ([]byte, error) {
	mk, next := kdfChain(&scratch.ckr)
	defer clear(mk[:])
	pt, err := s.openBody(&mk, m, ad)
	if err != nil {
		clear(next[:])
		wipeSkipped(pending)
		scratch.wipe()
		return nil, err
	}
	scratch.ckr = next
	clear(next[:])
	scratch.nr++
	s.st = *scratch // overwrites the old keys in place
	scratch.wipe()
	s.addSkipped(pending)
	s.initial = nil // the peer has our handshake: stop sending it
	return pt, nil
}

// trySkipped decrypts with a stored skipped key and deletes it on success.
func (s *Session) trySkipped(hk *[keySize]byte, h *header, m *ratchetMessage, ad []byte) ([]byte, error) {
	for i := range s.skipped {
		k := &s.skipped[i]
		if k.n != h.n || k.hk != *hk {
			continue
		}
		pt, err := s.openBody(&k.mk, m, ad)
		if err != nil {
			return nil, err
		}
		clear(k.mk[:])
		last := len(s.skipped) - 1
		copy(s.skipped[i:], s.skipped[i+1:])
		s.skipped[last] = skippedKey{}
		s.skipped = s.skipped[:last]
		s.initial = nil
		return pt, nil
	}
	return nil, ErrDuplicate
}

// skipTo advances the receiving chain to message number until, recording
// the keys passed over (only the last MaxSkipped are kept).
func (st *state) skipTo(until uint32, pending *[]skippedKey) error {
	if !st.hasCKr {
		return ErrDecrypt
	}
	if until < st.nr {
		return ErrDuplicate
	}
	if until-st.nr > MaxSkip {
		return fmt.Errorf("%w: %d keys to skip, limit %d", ErrTooFarAhead, until-st.nr, MaxSkip)
	}
	for st.nr < until {
		mk, next := kdfChain(&st.ckr)
		st.ckr = next
		if uint32(until-st.nr) <= MaxSkipped {
			*pending = append(*pending, skippedKey{hk: st.hkr, n: st.nr, mk: mk})
		}
		clear(mk[:])
		clear(next[:])
		st.nr++
	}
	return nil
}

// receiveStep is the receiving half of a DH+KEM ratchet step (SimpleX PQ
// double ratchet with header encryption): decapsulate the ciphertext sent
// to our KEM key, then RK, CKr, NHKr = KDF_RK(RK, DH(DHs, DHr) ‖ SS). The
// sending half (sendStep) runs at our next Encrypt.
func (st *state) receiveStep(h *header) error {
	// The first chain of the initiator only proposes a KEM key; every
	// later chain must carry a ciphertext to the key we proposed.
	if (h.ct == nil) != (st.kemPriv == nil) {
		return fmt.Errorf("%w: unexpected KEM state in header", ErrDecrypt)
	}
	dhr, err := ecdh.X25519().NewPublicKey(h.dh)
	if err != nil {
		return fmt.Errorf("%w: header DH key: %v", ErrDecrypt, err)
	}
	var ss, ourEK []byte
	if h.ct != nil {
		if ss, err = st.kemPriv.Decapsulate(h.ct); err != nil {
			return fmt.Errorf("%w: KEM ciphertext: %v", ErrDecrypt, err)
		}
		ourEK = st.kemPriv.EncapsulationKey().Bytes()
	}
	dh1, err := dh(st.dhs, dhr)
	if err != nil {
		return err
	}
	st.pn = st.ns
	st.ns, st.nr = 0, 0
	st.hks, st.hasHKs = st.nhks, true
	st.hkr, st.hasHKr = st.nhkr, true
	st.dhr = dhr
	st.kemPeer = bytes.Clone(h.ek)
	st.rk, st.ckr, st.nhkr = kdfRoot(&st.rk, dh1, ss, ourEK, h.ct)
	st.hasCKr = true
	clear(dh1)
	clear(ss)
	// Our DH and KEM keys have served; the next ones are made by
	// sendStep. The old sending chain is over.
	st.dhs = nil
	st.kemPriv = nil
	clear(st.cks[:])
	st.hasCKs = false
	st.sendKEM = nil
	return nil
}

// sendStep is the sending half: new DH and KEM key pairs, an encapsulation
// to the peer's KEM key (when we have one), and
// RK, CKs, NHKs = KDF_RK(RK, DH(DHs, DHr) ‖ SS).
func (st *state) sendStep(rand io.Reader) error {
	var err error
	if st.dhs, err = newX25519(rand); err != nil {
		return err
	}
	if st.kemPriv, err = newKEM(rand); err != nil {
		return err
	}
	var ss, ct []byte
	if st.kemPeer != nil {
		ek, err := mlkem.NewEncapsulationKey768(st.kemPeer)
		if err != nil {
			return fmt.Errorf("%w: peer KEM key: %v", ErrMalformed, err)
		}
		ss, ct = ek.Encapsulate()
	}
	d, err := dh(st.dhs, st.dhr)
	if err != nil {
		return err
	}
	st.rk, st.cks, st.nhks = kdfRoot(&st.rk, d, ss, st.kemPeer, ct)
	st.hasCKs = true
	clear(d)
	clear(ss)
	kind := kemProposed
	if ct != nil {
		kind = kemAccepted
	}
	st.sendKEM = bytes.Join([][]byte{{kind}, st.kemPriv.EncapsulationKey().Bytes(), ct}, nil)
	return nil
}

func wipeSkipped(list []skippedKey) {
	for i := range list {
		clear(list[i].mk[:])
	}
}

func (s *Session) addSkipped(pending []skippedKey) {
	s.skipped = append(s.skipped, pending...)
	wipeSkipped(pending)
	if over := len(s.skipped) - MaxSkipped; over > 0 {
		wipeSkipped(s.skipped[:over])
		n := copy(s.skipped, s.skipped[over:])
		clear(s.skipped[n:])
		s.skipped = s.skipped[:n]
	}
}
