package relay

import (
	"context"
	"crypto/ed25519"
	"math/big"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// edPoint is an affine Edwards25519 point in big integers: slow, simple,
// and independent of the blocklist it checks.
type edPoint struct{ x, y *big.Int }

var (
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	edD = func() *big.Int { // -121665/121666
		d := new(big.Int).ModInverse(big.NewInt(121666), edP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, edP)
	}()
)

// decodeEd decodes k as crypto/ed25519 does, non-canonical y included.
func decodeEd(k wire.Key32) (edPoint, bool) {
	le := make([]byte, 32)
	for i := range le {
		le[i] = k[31-i]
	}
	sign := le[0] >> 7
	le[0] &= 0x7f
	y := new(big.Int).SetBytes(le)
	y.Mod(y, edP)
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(edD, y2)
	v.Add(v, big.NewInt(1))
	x2 := u.Mul(u, new(big.Int).ModInverse(v.Mod(v, edP), edP))
	x2.Mod(x2, edP)
	x := new(big.Int).ModSqrt(x2, edP)
	if x == nil {
		return edPoint{}, false
	}
	if uint(x.Bit(0)) != uint(sign) {
		x.Sub(edP, x).Mod(x, edP)
	}
	return edPoint{x, y}, true
}

func edAdd(a, b edPoint) edPoint {
	t := new(big.Int).Mul(a.x, b.x)
	t.Mul(t, a.y).Mul(t, b.y).Mul(t, edD).Mod(t, edP)
	xn := new(big.Int).Add(new(big.Int).Mul(a.x, b.y), new(big.Int).Mul(a.y, b.x))
	yn := new(big.Int).Add(new(big.Int).Mul(a.y, b.y), new(big.Int).Mul(a.x, b.x))
	xd := new(big.Int).Add(big.NewInt(1), t)
	yd := new(big.Int).Sub(big.NewInt(1), t)
	x := xn.Mul(xn, new(big.Int).ModInverse(xd.Mod(xd, edP), edP))
	y := yn.Mul(yn, new(big.Int).ModInverse(yd.Mod(yd, edP), edP))
	return edPoint{x.Mod(x, edP), y.Mod(y, edP)}
}

// timesEightIsIdentity reports whether [8]P is the identity (0, 1).
func timesEightIsIdentity(p edPoint) bool {
	for range 3 {
		p = edAdd(p, p)
	}
	return p.x.Sign() == 0 && p.y.Cmp(big.NewInt(1)) == 0
}

// smallOrderEncodings returns every blocklisted encoding with both sign
// bits, keeping those that decode (x = 0 with the sign bit set decodes too,
// as "negative zero").
func smallOrderEncodings() []wire.Key32 {
	var out []wire.Key32
	for _, k := range smallOrder {
		for _, sign := range []byte{0, 0x80} {
			k := k
			k[31] |= sign
			out = append(out, k)
		}
	}
	return out
}

// TestSmallOrderBlocklist checks the list against arithmetic: every entry,
// with either sign bit, is a point of small order (or no point at all),
// and keys made by ed25519.GenerateKey are not flagged.
func TestSmallOrderBlocklist(t *testing.T) {
	decoded := 0
	for _, k := range smallOrderEncodings() {
		p, ok := decodeEd(k)
		if !ok {
			t.Errorf("%x: not a point", k)
			continue
		}
		decoded++
		if !timesEightIsIdentity(p) {
			t.Errorf("%x: [8]P is not the identity", k)
		}
		if !hasSmallOrder(k) {
			t.Errorf("hasSmallOrder(%x) = false", k)
		}
	}
	if decoded != 2*len(smallOrder) {
		t.Errorf("%d encodings decoded, want %d", decoded, 2*len(smallOrder))
	}
	for range 200 {
		o := newOwner(t)
		if hasSmallOrder(o.pub) {
			t.Fatalf("hasSmallOrder(%x) = true for a generated key", o.pub)
		}
		p, _ := decodeEd(o.pub)
		if timesEightIsIdentity(p) {
			t.Fatalf("%x: generated key of small order", o.pub)
		}
	}
}

// forgeSig looks for a signature made without a secret that verifies msg
// under a small-order key: R among the small-order points, S = 0, which
// verifies when R = -[k]A. ok is false if none does for this msg.
func forgeSig(key wire.Key32, msg []byte) (wire.Signature, bool) {
	for _, r := range smallOrderEncodings() {
		var sig wire.Signature
		copy(sig[:], r[:])
		if ed25519.Verify(ed25519.PublicKey(key[:]), msg, sig[:]) {
			return sig, true
		}
	}
	return wire.Signature{}, false
}

// TestRegisterRefusesSmallOrderKeys registers a mailbox under every
// small-order key, with a signature that verifies when one can be forged.
// Each is refused, and no mailbox is created.
func TestRegisterRefusesSmallOrderKeys(t *testing.T) {
	e := newEnv(t)
	c := e.pipe()
	forged := 0
	for _, key := range smallOrderEncodings() {
		o := newOwner(t)
		m := &wire.Register{Mailbox: o.id, OwnerKey: key}
		msg := wire.AuthMessage(wire.OpRegister, c.hello.Relay, c.hello.Challenge, o.id, key, wire.Key32{})
		if sig, ok := forgeSig(key, msg); ok {
			m.Signature = sig
			forged++
		}
		er := c.wantError(m, wire.CodeUnauthorized)
		if !strings.Contains(er.Message, "small order") {
			t.Errorf("key %x: got %q, want a refusal of the key", key, er.Message)
		}
		if _, err := e.store.Mailbox(context.Background(), o.id); err == nil {
			t.Errorf("key %x: mailbox created", key)
		}
	}
	// The identity key always has one; without any the test shows nothing.
	if forged == 0 {
		t.Fatal("no signature forged for any small-order key")
	}
	t.Logf("%d of %d keys had a forged signature that verifies", forged, len(smallOrderEncodings()))
}

// TestAuthRefusesStoredSmallOrderKey: a mailbox stored under the identity
// key (registered before the check) cannot be authenticated with the
// signature that verifies for every message.
func TestAuthRefusesStoredSmallOrderKey(t *testing.T) {
	e := newEnv(t)
	c := e.pipe()
	for _, key := range smallOrderEncodings() {
		o := newOwner(t)
		if err := e.store.Register(context.Background(), o.id, store.Mailbox{OwnerKey: key}); err != nil {
			t.Fatal(err)
		}
		m := &wire.Auth{Mailbox: o.id}
		msg := wire.AuthMessage(wire.OpAuth, c.hello.Relay, c.hello.Challenge, o.id, key, wire.Key32{})
		if sig, ok := forgeSig(key, msg); ok {
			m.Signature = sig
		}
		if key == (wire.Key32{0x01}) {
			// R = identity, S = 0 verifies under it for every message.
			if !ed25519.Verify(ed25519.PublicKey(key[:]), msg, m.Signature[:]) {
				t.Fatal("identity key: no forged signature verifies")
			}
		}
		er := c.wantError(m, wire.CodeUnauthorized)
		if !strings.Contains(er.Message, "small order") {
			t.Errorf("key %x: got %q, want a refusal of the key", key, er.Message)
		}
	}
}
