package session

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"fmt"
)

const stateMagic = 'R'

const (
	stInitiator = 1 << iota
	stHasCKs
	stHasCKr
	stHasHKs
	stHasHKr
	stHasKEM
	stHasInitial
)

const (
	adSize = len(labelSessionAD) + 1 + 2*(2+32+32)

	// maxOneState bounds one encoded state, without a previous one.
	maxOneState = 2 + 1 + adSize + 32 + 64 + 7*32 + 12 + kemSeedSz +
		2 + kemEKSize + 2 + 1 + kemEKSize + kemCTSize + initialSize + 2 + MaxSkipped*(32+4+32)
	// MaxStateSize bounds an encoded Session: its state and a previous
	// one (KeepPrevious).
	MaxStateSize = maxOneState + 1 + 4 + maxOneState

	prevMarker = 'P'
)

// MarshalBinary encodes the session state, secret keys included (seal it
// before it touches disk):
//
//	0x01 'R' ‖ flags u8 ‖ session AD ‖ initial hash (32) ‖ DHs private (32) ‖
//	DHr (32) ‖ RK ‖ CKs ‖ CKr ‖ HKs ‖ HKr ‖ NHKs ‖ NHKr (32 each) ‖
//	Ns u32 ‖ Nr u32 ‖ PN u32 ‖ [KEM seed (64)] ‖ peer KEM key (u16 len) ‖
//	sending KEM part (u16 len) ‖ [handshake header] ‖
//	skipped count u16 ‖ count × (HK (32) ‖ N u32 ‖ MK (32)) ‖
//	['P' ‖ u32 length ‖ previous session (KeepPrevious), without its own]
//
// Absent keys are encoded as zeros.
func (s *Session) MarshalBinary() ([]byte, error) {
	st := &s.st
	if (st.dhs == nil) == st.hasCKs || st.dhr == nil || len(s.ad) != adSize {
		return nil, fmt.Errorf("session: incomplete session state")
	}
	var flags byte
	for _, f := range []struct {
		set bool
		bit byte
	}{{s.initiator, stInitiator}, {st.hasCKs, stHasCKs}, {st.hasCKr, stHasCKr}, {st.hasHKs, stHasHKs},
		{st.hasHKr, stHasHKr}, {st.kemPriv != nil, stHasKEM}, {s.initial != nil, stHasInitial}} {
		if f.set {
			flags |= f.bit
		}
	}
	w := writer{b: make([]byte, 0, 2048+len(st.sendKEM)+len(s.skipped)*68)}
	w.u8(formatVersion)
	w.u8(stateMagic)
	w.u8(flags)
	w.fixed(s.ad)
	w.fixed(s.initialHash[:])
	if st.dhs != nil {
		w.fixed(st.dhs.Bytes())
	} else {
		w.fixed(make([]byte, x25519Size))
	}
	w.fixed(st.dhr.Bytes())
	for _, k := range []*[keySize]byte{&st.rk, &st.cks, &st.ckr, &st.hks, &st.hkr, &st.nhks, &st.nhkr} {
		w.fixed(k[:])
	}
	w.u32(st.ns)
	w.u32(st.nr)
	w.u32(st.pn)
	if st.kemPriv != nil {
		w.fixed(st.kemPriv.Bytes())
	}
	w.bytes16(st.kemPeer)
	w.bytes16(st.sendKEM)
	if s.initial != nil {
		w.fixed(s.initial)
	}
	w.u16(uint16(len(s.skipped)))
	for _, k := range s.skipped {
		w.fixed(k.hk[:])
		w.u32(k.n)
		w.fixed(k.mk[:])
	}
	if s.prev != nil {
		pb, err := s.prev.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("session: previous session: %w", err)
		}
		w.u8(prevMarker)
		w.u32(uint32(len(pb)))
		w.fixed(pb)
	}
	return w.b, nil
}

// UnmarshalBinary decodes a state written by MarshalBinary. The session's
// randomness is crypto/rand until SetRand.
func (s *Session) UnmarshalBinary(data []byte) error {
	if len(data) > MaxStateSize {
		return fmt.Errorf("%w: session state is %d bytes, limit %d", ErrMalformed, len(data), MaxStateSize)
	}
	r := reader{b: data}
	r.expect(formatVersion, "state version")
	r.expect(stateMagic, "state kind")
	flags := r.u8("state flags")
	if r.err == nil && flags >= stHasInitial<<1 {
		r.fail("state flags 0x%02x", flags)
	}
	n := &Session{rand: rand.Reader, initiator: flags&stInitiator != 0}
	st := &n.st
	st.hasCKs = flags&stHasCKs != 0
	st.hasCKr = flags&stHasCKr != 0
	st.hasHKs = flags&stHasHKs != 0
	st.hasHKr = flags&stHasHKr != 0
	n.ad = r.take(adSize, "session AD")
	copy(n.initialHash[:], r.take(32, "initial hash"))
	dhs := r.take(32, "DHs")
	dhr := r.take(32, "DHr")
	for _, k := range []*[keySize]byte{&st.rk, &st.cks, &st.ckr, &st.hks, &st.hkr, &st.nhks, &st.nhkr} {
		copy(k[:], r.take(keySize, "chain key"))
	}
	st.ns = r.u32("Ns")
	st.nr = r.u32("Nr")
	st.pn = r.u32("PN")
	var seed []byte
	if flags&stHasKEM != 0 {
		seed = r.take(kemSeedSz, "KEM seed")
	}
	st.kemPeer = r.bytes16(kemEKSize, "peer KEM key")
	if r.err == nil && len(st.kemPeer) != 0 && len(st.kemPeer) != kemEKSize {
		r.fail("peer KEM key is %d bytes", len(st.kemPeer))
	}
	if len(st.kemPeer) == 0 {
		st.kemPeer = nil
	}
	st.sendKEM = r.bytes16(1+kemEKSize+kemCTSize, "sending KEM part")
	if r.err == nil {
		switch l := len(st.sendKEM); {
		case l == 0 && !st.hasCKs:
			st.sendKEM = nil
		case l == 0 || !st.hasCKs:
			r.fail("sending KEM part of %d bytes with sending chain %v", l, st.hasCKs)
		case l == 1+kemEKSize && st.sendKEM[0] == kemProposed:
		case l == 1+kemEKSize+kemCTSize && st.sendKEM[0] == kemAccepted:
		default:
			r.fail("sending KEM part of %d bytes", l)
		}
	}
	if flags&stHasInitial != 0 {
		n.initial = r.take(initialSize, "handshake header")
	}
	ns := int(r.u16("skipped count"))
	if ns > MaxSkipped {
		r.fail("%d skipped keys, limit %d", ns, MaxSkipped)
	}
	for i := 0; i < ns && r.err == nil; i++ {
		var k skippedKey
		copy(k.hk[:], r.take(keySize, "skipped header key"))
		k.n = r.u32("skipped number")
		copy(k.mk[:], r.take(keySize, "skipped message key"))
		n.skipped = append(n.skipped, k)
	}
	var prev []byte
	if r.err == nil && len(r.b) > 0 {
		r.expect(prevMarker, "previous session marker")
		l := r.u32("previous session length")
		if r.err == nil && int64(l) > int64(maxOneState) {
			r.fail("previous session of %d bytes, limit %d", l, maxOneState)
		}
		prev = r.take(int(l), "previous session")
	}
	if err := r.done("session state"); err != nil {
		return err
	}
	if prev != nil {
		n.prev = new(Session)
		if err := n.prev.UnmarshalBinary(prev); err != nil {
			return fmt.Errorf("previous session: %w", err)
		}
		if n.prev.prev != nil {
			return fmt.Errorf("%w: a previous session inside a previous session", ErrMalformed)
		}
	}
	if _, _, err := parseSessionAD(n.ad); err != nil {
		return fmt.Errorf("session state: %w", err)
	}
	var err error
	if st.hasCKs {
		if st.dhs, err = ecdh.X25519().NewPrivateKey(dhs); err != nil {
			return fmt.Errorf("%w: DHs: %v", ErrMalformed, err)
		}
	} else if !allZero(dhs) {
		return fmt.Errorf("%w: DHs without a sending chain", ErrMalformed)
	}
	if st.dhr, err = ecdh.X25519().NewPublicKey(dhr); err != nil {
		return fmt.Errorf("%w: DHr: %v", ErrMalformed, err)
	}
	if seed != nil {
		if st.kemPriv, err = mlkem.NewDecapsulationKey768(seed); err != nil {
			return fmt.Errorf("%w: KEM seed: %v", ErrMalformed, err)
		}
	}
	// Copy out of data so that the caller may reuse its buffer.
	n.ad = append([]byte(nil), n.ad...)
	st.kemPeer = cloneBytes(st.kemPeer)
	st.sendKEM = cloneBytes(st.sendKEM)
	n.initial = cloneBytes(n.initial)
	*s = *n
	return nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
