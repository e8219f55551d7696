package session

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Prekey wire formats. All fields are fixed-size and big-endian, so every
// format is canonical: a decoder accepts exactly one encoding per value.
const (
	formatVersion = 1

	kindBundle     byte = 'B' // the signed bundle
	kindOneTime    byte = 'O' // one one-time entry
	kindLastResort byte = 'L' // the last-resort marker

	// signature purposes
	sigSignedX25519 byte = 1
	sigLastResort   byte = 2
	sigOneTimeKEM   byte = 3

	entryHasX25519 byte = 1 << 0
	entryHasKEM    byte = 1 << 1

	// BundleSize is the size of an encoded PrekeyBundle.
	BundleSize = 2 + 32 + 32 + (4 + 8 + x25519Size + ed25519.SignatureSize) + (4 + 8 + kemEKSize + ed25519.SignatureSize)
	// LastResortSize is the size of the last-resort marker.
	LastResortSize = 2 + 4
	// MaxEntrySize is the size of a one-time entry with both keys.
	MaxEntrySize = 3 + (4 + x25519Size) + (4 + 8 + kemEKSize + ed25519.SignatureSize)

	// DefaultGracePeriod is how long a replaced signed prekey is kept so
	// that handshakes started against it still complete.
	DefaultGracePeriod = 30 * 24 * time.Hour
)

// SignedKey is a public prekey with its id, creation time and the
// identity's signature. Key is 32 bytes (X25519) or 1184 bytes (ML-KEM-768
// encapsulation key).
type SignedKey struct {
	ID        uint32
	Created   time.Time // whole seconds
	Key       []byte
	Signature []byte
}

// signedMessage is what a prekey signature covers:
// label ‖ 0 ‖ purpose ‖ 0x02 ‖ identity Ed25519 key ‖ 0x05 ‖ id ‖ created ‖
// type tag ‖ key.
func signedMessage(purpose byte, signer ed25519.PublicKey, k SignedKey) []byte {
	w := writer{b: make([]byte, 0, len(labelPrekeySig)+64+len(k.Key))}
	w.fixed([]byte(labelPrekeySig))
	w.u8(0)
	w.u8(purpose)
	w.tagged(tagEd25519, signer)
	w.u8(tagPrekeyID)
	w.u32(k.ID)
	w.u64(uint64(k.Created.Unix()))
	if purpose == sigSignedX25519 {
		w.tagged(tagX25519, k.Key)
	} else {
		w.tagged(tagMLKEMEK, k.Key)
	}
	return w.b
}

func sign(purpose byte, priv ed25519.PrivateKey, k *SignedKey) {
	k.Signature = ed25519.Sign(priv, signedMessage(purpose, priv.Public().(ed25519.PublicKey), *k))
}

func verify(purpose byte, pub ed25519.PublicKey, k SignedKey, what string) error {
	if !ed25519.Verify(pub, signedMessage(purpose, pub, k), k.Signature) {
		return fmt.Errorf("%w: %s %d", ErrBadSignature, what, k.ID)
	}
	return nil
}

// PrekeyBundle is the public, signed part of an identity's prekeys that
// the owner uploads to the relay: both identity keys, the signed X25519
// prekey and the signed last-resort ML-KEM-768 prekey.
type PrekeyBundle struct {
	Identity   PublicIdentity
	SignedX    SignedKey
	LastResort SignedKey
}

// MarshalBinary encodes the bundle:
//
//	0x01 'B' ‖ Ed25519 identity (32) ‖ X25519 identity (32) ‖
//	spkID u32 ‖ created u64 ‖ spk (32) ‖ sig (64) ‖
//	kemID u32 ‖ created u64 ‖ ek (1184) ‖ sig (64)
func (b *PrekeyBundle) MarshalBinary() ([]byte, error) {
	if len(b.Identity.Signing) != ed25519.PublicKeySize || b.Identity.DH == nil ||
		len(b.SignedX.Key) != x25519Size || len(b.LastResort.Key) != kemEKSize ||
		len(b.SignedX.Signature) != ed25519.SignatureSize || len(b.LastResort.Signature) != ed25519.SignatureSize {
		return nil, errors.New("session: incomplete prekey bundle")
	}
	w := writer{b: make([]byte, 0, BundleSize)}
	w.u8(formatVersion)
	w.u8(kindBundle)
	w.fixed(b.Identity.Signing)
	w.fixed(b.Identity.DH.Bytes())
	for _, k := range []SignedKey{b.SignedX, b.LastResort} {
		w.u32(k.ID)
		w.u64(uint64(k.Created.Unix()))
		w.fixed(k.Key)
		w.fixed(k.Signature)
	}
	return w.b, nil
}

// ParseBundle decodes a bundle and verifies both signatures against the
// identity key it carries. The last-resort KEM key is parsed (and a
// malformed one reported) when a handshake uses it. The caller must still check that the identity
// is the one it expects (Initiate does).
func ParseBundle(data []byte) (*PrekeyBundle, error) {
	if len(data) != BundleSize {
		return nil, fmt.Errorf("%w: prekey bundle is %d bytes, want %d", ErrMalformed, len(data), BundleSize)
	}
	r := reader{b: data}
	r.expect(formatVersion, "bundle version")
	r.expect(kindBundle, "bundle kind")
	b := &PrekeyBundle{}
	b.Identity.Signing = ed25519.PublicKey(r.take(32, "identity signing key"))
	xb := r.take(32, "identity X25519 key")
	readSigned := func(n int, what string) SignedKey {
		var k SignedKey
		k.ID = r.u32(what + " id")
		k.Created = time.Unix(int64(r.u64(what+" time")), 0).UTC()
		k.Key = r.take(n, what)
		k.Signature = r.take(ed25519.SignatureSize, what+" signature")
		return k
	}
	b.SignedX = readSigned(x25519Size, "signed prekey")
	b.LastResort = readSigned(kemEKSize, "last-resort prekey")
	if err := r.done("bundle"); err != nil {
		return nil, err
	}
	var err error
	if b.Identity.DH, err = ecdh.X25519().NewPublicKey(xb); err != nil {
		return nil, fmt.Errorf("%w: identity X25519 key: %v", ErrMalformed, err)
	}
	if _, err := ecdh.X25519().NewPublicKey(b.SignedX.Key); err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrMalformed, err)
	}
	if err := verify(sigSignedX25519, b.Identity.Signing, b.SignedX, "signed prekey"); err != nil {
		return nil, err
	}
	if err := verify(sigLastResort, b.Identity.Signing, b.LastResort, "last-resort prekey"); err != nil {
		return nil, err
	}
	return b, nil
}

// PrekeyEntry is one claimable item: a one-time X25519 key and/or a signed
// one-time ML-KEM-768 key, or (LastResort set) a marker telling the
// initiator to use the bundle's last-resort KEM key.
type PrekeyEntry struct {
	LastResort   bool
	LastResortID uint32     // with LastResort: the bundle's KEM key id
	X25519ID     uint32     // with X25519 != nil
	X25519       []byte     // nil when absent
	KEM          *SignedKey // nil when absent

	kemEK *mlkem.EncapsulationKey768 // parsed by ParseEntry
}

// MarshalBinary encodes the entry:
//
//	one-time:    0x01 'O' ‖ flags u8 ‖ [id u32 ‖ X25519 (32)] ‖
//	             [id u32 ‖ created u64 ‖ ek (1184) ‖ sig (64)]
//	last resort: 0x01 'L' ‖ kemID u32
func (e *PrekeyEntry) MarshalBinary() ([]byte, error) {
	w := writer{b: make([]byte, 0, MaxEntrySize)}
	w.u8(formatVersion)
	if e.LastResort {
		if e.X25519 != nil || e.KEM != nil {
			return nil, errors.New("session: last-resort entry with one-time keys")
		}
		w.u8(kindLastResort)
		w.u32(e.LastResortID)
		return w.b, nil
	}
	var flags byte
	if e.X25519 != nil {
		flags |= entryHasX25519
		if len(e.X25519) != x25519Size {
			return nil, errors.New("session: bad one-time X25519 key")
		}
	}
	if e.KEM != nil {
		flags |= entryHasKEM
		if len(e.KEM.Key) != kemEKSize || len(e.KEM.Signature) != ed25519.SignatureSize {
			return nil, errors.New("session: bad one-time KEM key")
		}
	}
	if flags == 0 {
		return nil, errors.New("session: empty one-time entry")
	}
	w.u8(kindOneTime)
	w.u8(flags)
	if e.X25519 != nil {
		w.u32(e.X25519ID)
		w.fixed(e.X25519)
	}
	if e.KEM != nil {
		w.u32(e.KEM.ID)
		w.u64(uint64(e.KEM.Created.Unix()))
		w.fixed(e.KEM.Key)
		w.fixed(e.KEM.Signature)
	}
	return w.b, nil
}

// ParseEntry decodes a one-time entry or a last-resort marker. It checks
// key encodings but not signatures (that needs the bundle's identity; see
// Initiate).
func ParseEntry(data []byte) (*PrekeyEntry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: prekey entry is %d bytes, limit %d", ErrMalformed, len(data), MaxEntrySize)
	}
	r := reader{b: data}
	r.expect(formatVersion, "entry version")
	e := &PrekeyEntry{}
	switch kind := r.u8("entry kind"); {
	case r.err != nil:
	case kind == kindLastResort:
		e.LastResort = true
		e.LastResortID = r.u32("last-resort id")
	case kind == kindOneTime:
		flags := r.u8("entry flags")
		if r.err == nil && (flags == 0 || flags&^(entryHasX25519|entryHasKEM) != 0) {
			r.fail("entry flags 0x%02x", flags)
		}
		if flags&entryHasX25519 != 0 {
			e.X25519ID = r.u32("one-time X25519 id")
			e.X25519 = r.take(x25519Size, "one-time X25519 key")
		}
		if flags&entryHasKEM != 0 {
			k := &SignedKey{}
			k.ID = r.u32("one-time KEM id")
			k.Created = time.Unix(int64(r.u64("one-time KEM time")), 0).UTC()
			k.Key = r.take(kemEKSize, "one-time KEM key")
			k.Signature = r.take(ed25519.SignatureSize, "one-time KEM signature")
			e.KEM = k
		}
	default:
		r.fail("entry kind 0x%02x", kind)
	}
	if err := r.done("entry"); err != nil {
		return nil, err
	}
	if e.X25519 != nil {
		if _, err := ecdh.X25519().NewPublicKey(e.X25519); err != nil {
			return nil, fmt.Errorf("%w: one-time X25519 key: %v", ErrMalformed, err)
		}
	}
	if e.KEM != nil {
		var err error
		if e.kemEK, err = mlkem.NewEncapsulationKey768(e.KEM.Key); err != nil {
			return nil, fmt.Errorf("%w: one-time KEM key: %v", ErrMalformed, err)
		}
	}
	return e, nil
}

// Upload is what the owner hands to the relay's PutPrekeys: Bundle and
// LastResort replace the stored ones, OneTime entries are added.
type Upload struct {
	Bundle     []byte
	LastResort []byte
	OneTime    [][]byte
}

type signedX struct {
	id      uint32
	created time.Time
	retired time.Time // zero for the current key
	priv    *ecdh.PrivateKey
}

type signedKEM struct {
	id      uint32
	created time.Time
	retired time.Time
	priv    *mlkem.DecapsulationKey768
}

// PrekeyStore holds the private halves of an identity's prekeys. It is not
// safe for concurrent use; the zero value is not usable (use NewPrekeys or
// UnmarshalBinary). The identity signing key is not stored in it.
type PrekeyStore struct {
	// GracePeriod is how long replaced signed prekeys stay usable.
	GracePeriod time.Duration

	nextID     uint32
	identity   PublicIdentity
	signedX    []signedX   // current first
	lastResort []signedKEM // current first
	oneTimeX   map[uint32]*ecdh.PrivateKey
	oneTimeKEM map[uint32]*mlkem.DecapsulationKey768
}

// NewPrekeys makes a signed X25519 prekey, a signed last-resort ML-KEM-768
// prekey and nOneTime one-time entries (each with an X25519 key and a
// signed ML-KEM-768 key), and returns the private store and the upload.
// rand nil means crypto/rand, here and in Rotate and AddOneTime.
func NewPrekeys(id Identity, rand io.Reader, now time.Time, nOneTime int) (*PrekeyStore, Upload, error) {
	if err := id.check(); err != nil {
		return nil, Upload{}, err
	}
	rand = orDefault(rand)
	s := &PrekeyStore{
		GracePeriod: DefaultGracePeriod,
		nextID:      1,
		identity:    id.Public(),
		oneTimeX:    map[uint32]*ecdh.PrivateKey{},
		oneTimeKEM:  map[uint32]*mlkem.DecapsulationKey768{},
	}
	up, err := s.Rotate(id, rand, now)
	if err != nil {
		return nil, Upload{}, err
	}
	if up.OneTime, err = s.AddOneTime(id, rand, now, nOneTime); err != nil {
		return nil, Upload{}, err
	}
	return s, up, nil
}

func (s *PrekeyStore) newID() uint32 {
	id := s.nextID
	s.nextID++
	return id
}

// Rotate replaces the signed X25519 prekey and the last-resort KEM prekey
// with new ones, keeps the replaced ones for GracePeriod, drops those
// retired longer ago, and returns the new Bundle and LastResort to upload.
func (s *PrekeyStore) Rotate(id Identity, rand io.Reader, now time.Time) (Upload, error) {
	if err := id.check(); err != nil {
		return Upload{}, err
	}
	if !id.Public().Equal(s.identity) {
		return Upload{}, errors.New("session: identity does not own this prekey store")
	}
	rand = orDefault(rand)
	now = now.Truncate(time.Second)
	xp, err := newX25519(rand)
	if err != nil {
		return Upload{}, err
	}
	kp, err := newKEM(rand)
	if err != nil {
		return Upload{}, err
	}
	for i := range s.signedX {
		if s.signedX[i].retired.IsZero() {
			s.signedX[i].retired = now
		}
	}
	for i := range s.lastResort {
		if s.lastResort[i].retired.IsZero() {
			s.lastResort[i].retired = now
		}
	}
	s.signedX = append([]signedX{{id: s.newID(), created: now, priv: xp}}, s.signedX...)
	s.lastResort = append([]signedKEM{{id: s.newID(), created: now, priv: kp}}, s.lastResort...)
	s.Prune(now)
	return s.upload(id)
}

// Prune drops replaced signed prekeys retired more than GracePeriod before
// now.
func (s *PrekeyStore) Prune(now time.Time) {
	keepX := s.signedX[:0]
	for _, k := range s.signedX {
		if k.retired.IsZero() || now.Sub(k.retired) <= s.GracePeriod {
			keepX = append(keepX, k)
		}
	}
	s.signedX = keepX
	keepK := s.lastResort[:0]
	for _, k := range s.lastResort {
		if k.retired.IsZero() || now.Sub(k.retired) <= s.GracePeriod {
			keepK = append(keepK, k)
		}
	}
	s.lastResort = keepK
}

// Bundle returns the current public bundle.
func (s *PrekeyStore) Bundle(id Identity) (*PrekeyBundle, error) {
	if len(s.signedX) == 0 || len(s.lastResort) == 0 {
		return nil, errors.New("session: prekey store has no signed prekeys")
	}
	x, k := s.signedX[0], s.lastResort[0]
	b := &PrekeyBundle{
		Identity:   s.identity,
		SignedX:    SignedKey{ID: x.id, Created: x.created, Key: x.priv.PublicKey().Bytes()},
		LastResort: SignedKey{ID: k.id, Created: k.created, Key: k.priv.EncapsulationKey().Bytes()},
	}
	sign(sigSignedX25519, id.Signing, &b.SignedX)
	sign(sigLastResort, id.Signing, &b.LastResort)
	return b, nil
}

func (s *PrekeyStore) upload(id Identity) (Upload, error) {
	b, err := s.Bundle(id)
	if err != nil {
		return Upload{}, err
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		return Upload{}, err
	}
	lr, err := (&PrekeyEntry{LastResort: true, LastResortID: b.LastResort.ID}).MarshalBinary()
	if err != nil {
		return Upload{}, err
	}
	return Upload{Bundle: bb, LastResort: lr}, nil
}

// AddOneTime makes n one-time entries, each with an X25519 key and a signed
// ML-KEM-768 key, and returns their encodings for upload.
func (s *PrekeyStore) AddOneTime(id Identity, rand io.Reader, now time.Time, n int) ([][]byte, error) {
	if n < 0 || n > MaxOneTime {
		return nil, fmt.Errorf("session: %d one-time prekeys, limit %d", n, MaxOneTime)
	}
	if len(s.oneTimeX)+n > MaxOneTime || len(s.oneTimeKEM)+n > MaxOneTime {
		return nil, fmt.Errorf("session: store would hold more than %d one-time prekeys", MaxOneTime)
	}
	rand = orDefault(rand)
	now = now.Truncate(time.Second)
	out := make([][]byte, 0, n)
	for range n {
		xp, err := newX25519(rand)
		if err != nil {
			return nil, err
		}
		kp, err := newKEM(rand)
		if err != nil {
			return nil, err
		}
		e := PrekeyEntry{X25519ID: s.newID(), X25519: xp.PublicKey().Bytes()}
		e.KEM = &SignedKey{ID: s.newID(), Created: now, Key: kp.EncapsulationKey().Bytes()}
		sign(sigOneTimeKEM, id.Signing, e.KEM)
		b, err := e.MarshalBinary()
		if err != nil {
			return nil, err
		}
		s.oneTimeX[e.X25519ID] = xp
		s.oneTimeKEM[e.KEM.ID] = kp
		out = append(out, b)
	}
	return out, nil
}

// OneTimeCount returns how many one-time X25519 and KEM keys are left.
func (s *PrekeyStore) OneTimeCount() (x, kem int) { return len(s.oneTimeX), len(s.oneTimeKEM) }

func (s *PrekeyStore) findSignedX(id uint32) *ecdh.PrivateKey {
	for _, k := range s.signedX {
		if k.id == id {
			return k.priv
		}
	}
	return nil
}

func (s *PrekeyStore) findLastResort(id uint32) *mlkem.DecapsulationKey768 {
	for _, k := range s.lastResort {
		if k.id == id {
			return k.priv
		}
	}
	return nil
}

// Limits of the store encoding.
const (
	// MaxOneTime bounds the one-time keys of each type in a store.
	MaxOneTime = 5000
	maxSigned  = 64
	storeMagic = 'S'
)

// MarshalBinary encodes the store, private keys included (seal it before
// it touches disk):
//
//	0x01 'S' ‖ nextID u32 ‖ grace seconds u64 ‖ Ed25519 identity (32) ‖
//	X25519 identity (32) ‖ nX u16 ‖ nX × (id u32, created u64, retired u64, key 32) ‖
//	nK u16 ‖ nK × (id u32, created u64, retired u64, seed 64) ‖
//	nOX u16 ‖ nOX × (id u32, key 32) ‖ nOK u16 ‖ nOK × (id u32, seed 64)
//
// Retired is 0 for the current key; one-time keys are sorted by id.
func (s *PrekeyStore) MarshalBinary() ([]byte, error) {
	w := writer{}
	w.u8(formatVersion)
	w.u8(storeMagic)
	w.u32(s.nextID)
	w.u64(uint64(s.GracePeriod / time.Second))
	w.fixed(s.identity.Signing)
	w.fixed(s.identity.DH.Bytes())
	unix := func(t time.Time) uint64 {
		if t.IsZero() {
			return 0
		}
		return uint64(t.Unix())
	}
	w.u16(uint16(len(s.signedX)))
	for _, k := range s.signedX {
		w.u32(k.id)
		w.u64(unix(k.created))
		w.u64(unix(k.retired))
		w.fixed(k.priv.Bytes())
	}
	w.u16(uint16(len(s.lastResort)))
	for _, k := range s.lastResort {
		w.u32(k.id)
		w.u64(unix(k.created))
		w.u64(unix(k.retired))
		w.fixed(k.priv.Bytes())
	}
	w.u16(uint16(len(s.oneTimeX)))
	for _, id := range sortedKeys(s.oneTimeX) {
		w.u32(id)
		w.fixed(s.oneTimeX[id].Bytes())
	}
	w.u16(uint16(len(s.oneTimeKEM)))
	for _, id := range sortedKeys(s.oneTimeKEM) {
		w.u32(id)
		w.fixed(s.oneTimeKEM[id].Bytes())
	}
	return w.b, nil
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// MaxStoreSize bounds an encoded PrekeyStore.
const MaxStoreSize = 2 + 4 + 8 + 64 + 2*(2+maxSigned*(20+kemSeedSz)) + 2*(2+MaxOneTime*(4+kemSeedSz))

// UnmarshalBinary decodes a store written by MarshalBinary.
func (s *PrekeyStore) UnmarshalBinary(data []byte) error {
	if len(data) > MaxStoreSize {
		return fmt.Errorf("%w: prekey store is %d bytes, limit %d", ErrMalformed, len(data), MaxStoreSize)
	}
	r := reader{b: data}
	r.expect(formatVersion, "store version")
	r.expect(storeMagic, "store kind")
	n := &PrekeyStore{
		oneTimeX:   map[uint32]*ecdh.PrivateKey{},
		oneTimeKEM: map[uint32]*mlkem.DecapsulationKey768{},
	}
	n.nextID = r.u32("next id")
	n.GracePeriod = time.Duration(r.u64("grace period")&(1<<33-1)) * time.Second
	n.identity.Signing = ed25519.PublicKey(r.take(32, "identity signing key"))
	idx := r.take(32, "identity X25519 key")
	t := func(what string) time.Time {
		v := r.u64(what)
		if v == 0 {
			return time.Time{}
		}
		return time.Unix(int64(v&(1<<62-1)), 0).UTC()
	}
	var err error
	seen := map[uint32]bool{}
	checkID := func(id uint32) {
		if r.err == nil && (seen[id] || id >= n.nextID) {
			r.fail("prekey id %d repeated or not below next id %d", id, n.nextID)
		}
		seen[id] = true
	}
	nx := int(r.u16("signed prekey count"))
	if nx > maxSigned {
		r.fail("%d signed prekeys, limit %d", nx, maxSigned)
	}
	for i := 0; i < nx && r.err == nil; i++ {
		k := signedX{id: r.u32("id"), created: t("created"), retired: t("retired")}
		checkID(k.id)
		if b := r.take(32, "signed prekey"); b != nil {
			if k.priv, err = ecdh.X25519().NewPrivateKey(b); err != nil {
				r.fail("signed prekey: %v", err)
			}
		}
		n.signedX = append(n.signedX, k)
	}
	nk := int(r.u16("last-resort count"))
	if nk > maxSigned {
		r.fail("%d last-resort prekeys, limit %d", nk, maxSigned)
	}
	for i := 0; i < nk && r.err == nil; i++ {
		k := signedKEM{id: r.u32("id"), created: t("created"), retired: t("retired")}
		checkID(k.id)
		if b := r.take(kemSeedSz, "last-resort seed"); b != nil {
			if k.priv, err = mlkem.NewDecapsulationKey768(b); err != nil {
				r.fail("last-resort prekey: %v", err)
			}
		}
		n.lastResort = append(n.lastResort, k)
	}
	nox := int(r.u16("one-time X25519 count"))
	if nox > MaxOneTime {
		r.fail("%d one-time X25519 keys, limit %d", nox, MaxOneTime)
	}
	for i := 0; i < nox && r.err == nil; i++ {
		id := r.u32("id")
		checkID(id)
		if b := r.take(32, "one-time X25519 key"); b != nil {
			if n.oneTimeX[id], err = ecdh.X25519().NewPrivateKey(b); err != nil {
				r.fail("one-time X25519 key: %v", err)
			}
		}
	}
	nok := int(r.u16("one-time KEM count"))
	if nok > MaxOneTime {
		r.fail("%d one-time KEM keys, limit %d", nok, MaxOneTime)
	}
	for i := 0; i < nok && r.err == nil; i++ {
		id := r.u32("id")
		checkID(id)
		if b := r.take(kemSeedSz, "one-time KEM seed"); b != nil {
			if n.oneTimeKEM[id], err = mlkem.NewDecapsulationKey768(b); err != nil {
				r.fail("one-time KEM key: %v", err)
			}
		}
	}
	if err := r.done("prekey store"); err != nil {
		return err
	}
	if len(n.signedX) == 0 || len(n.lastResort) == 0 {
		return fmt.Errorf("%w: prekey store without signed prekeys", ErrMalformed)
	}
	if n.identity.DH, err = ecdh.X25519().NewPublicKey(idx); err != nil {
		return fmt.Errorf("%w: identity X25519 key: %v", ErrMalformed, err)
	}
	*s = *n
	return nil
}

// SignedCount returns how many signed X25519 and last-resort KEM prekeys
// the store holds (the current ones and those in their grace period).
func (s *PrekeyStore) SignedCount() (x, kem int) { return len(s.signedX), len(s.lastResort) }

// Rotated returns when the current signed prekey was made.
func (s *PrekeyStore) Rotated() time.Time {
	if len(s.signedX) == 0 {
		return time.Time{}
	}
	return s.signedX[0].created
}

// OneTimeIDs returns the ids of every one-time X25519 and KEM key held,
// sorted.
func (s *PrekeyStore) OneTimeIDs() []uint32 {
	ids := append(sortedKeys(s.oneTimeX), sortedKeys(s.oneTimeKEM)...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// DeleteOneTime destroys the one-time keys (X25519 or KEM) with these ids;
// ids it does not hold are ignored. It returns how many it deleted.
func (s *PrekeyStore) DeleteOneTime(ids ...uint32) int {
	n := 0
	for _, id := range ids {
		if _, ok := s.oneTimeX[id]; ok {
			delete(s.oneTimeX, id)
			n++
		}
		if _, ok := s.oneTimeKEM[id]; ok {
			delete(s.oneTimeKEM, id)
			n++
		}
	}
	return n
}
