package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"testing"
)

// testKey derives a fixed recipient key, so failures are reproducible.
func testKey(t testing.TB, seed byte) hpke.PrivateKey {
	t.Helper()
	k, err := KEM().DeriveKeyPair(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	for _, n := range []int{0, 1, 100, 1024, 5000, 70000, MaxPayload} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := payloadOf(n)
			env, err := Seal(k.PublicKey(), p)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := SealedSize(n)
			if len(env) != want {
				t.Errorf("len = %d, want %d", len(env), want)
			}
			got, err := Open(k, env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p) {
				t.Errorf("payload differs")
			}
		})
	}
}

func TestConstants(t *testing.T) {
	k := testKey(t, 1)
	enc, _, err := hpke.NewSender(k.PublicKey(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) != EncSize {
		t.Errorf("enc size = %d, want %d", len(enc), EncSize)
	}
	if got, want := buckets[len(buckets)-1]+Overhead, MaxSize; got != want {
		t.Errorf("largest envelope = %d, want %d", got, want)
	}
	if MaxPayload != 261006 || Overhead != 1137 {
		t.Errorf("MaxPayload = %d, Overhead = %d; docs say 261006 and 1137", MaxPayload, Overhead)
	}
	if KEM().ID() != 0x647a {
		t.Errorf("KEM id = %#x, want 0x647a", KEM().ID())
	}
}

// TestBuckets seals payloads at every bucket boundary: b−2 and b−1 fit bucket
// b (a payload needs one byte of padding), b moves to the next bucket.
func TestBuckets(t *testing.T) {
	k := testKey(t, 2)
	for i, b := range buckets {
		for _, n := range []int{b - 2, b - 1, b} {
			t.Run(fmt.Sprintf("bucket%d/n%d", b, n), func(t *testing.T) {
				want := b
				if n == b {
					if i+1 == len(buckets) {
						if _, err := Seal(k.PublicKey(), payloadOf(n)); !errors.Is(err, ErrTooLarge) {
							t.Fatalf("Seal(%d bytes) error = %v, want ErrTooLarge", n, err)
						}
						return
					}
					want = buckets[i+1]
				}
				env, err := Seal(k.PublicKey(), payloadOf(n))
				if err != nil {
					t.Fatal(err)
				}
				if got := len(env) - Overhead; got != want {
					t.Errorf("padded to %d, want %d", got, want)
				}
				p, err := Open(k, env)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p, payloadOf(n)) {
					t.Error("payload differs")
				}
			})
		}
	}
}

func TestPaddedSize(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{-1, 0}, {0, 256}, {255, 256}, {256, 512}, {1024, 2048},
		{131071, 131072}, {131072, 261007}, {MaxPayload, 261007}, {MaxPayload + 1, 0},
	} {
		got, ok := PaddedSize(c.n)
		if got != c.want || ok != (c.want != 0) {
			t.Errorf("PaddedSize(%d) = %d, %v; want %d", c.n, got, ok, c.want)
		}
	}
}

func TestWrongKey(t *testing.T) {
	env, err := Seal(testKey(t, 1).PublicKey(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(testKey(t, 2), env); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open with wrong key: %v, want ErrDecrypt", err)
	}
	x, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(x.PublicKey(), nil); !errors.Is(err, ErrKEM) {
		t.Errorf("Seal to X25519 key: %v, want ErrKEM", err)
	}
	if _, err := Open(x, env); !errors.Is(err, ErrKEM) {
		t.Errorf("Open with X25519 key: %v, want ErrKEM", err)
	}
	if _, err := Seal(nil, nil); !errors.Is(err, ErrKEM) {
		t.Errorf("Seal to nil key: %v, want ErrKEM", err)
	}
}

// TestTamper flips each bit position class of an envelope: every change must
// be an error, never a panic and never a different payload.
func TestTamper(t *testing.T) {
	k := testKey(t, 3)
	env, err := Seal(k.PublicKey(), []byte("attack at dawn"))
	if err != nil {
		t.Fatal(err)
	}
	positions := []int{0, 1, 500, EncSize - 1, EncSize, EncSize + 1, EncSize + 1 + 20, len(env) - TagSize - 1, len(env) - 1}
	for _, pos := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			m := bytes.Clone(env)
			m[pos] ^= bit
			if _, err := Open(k, m); err == nil {
				t.Errorf("Open accepted envelope with byte %d ^ %#x", pos, bit)
			}
		}
	}
	for _, n := range []int{0, 1, MinSize - 1, len(env) - 1, len(env) + 1} {
		m := make([]byte, n)
		copy(m, env)
		if _, err := Open(k, m); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
			t.Errorf("Open of %d bytes: %v, want ErrMalformed", n, err)
		}
	}
	if _, err := Open(k, make([]byte, MaxSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Open of MaxSize+1 bytes: %v, want ErrTooLarge", err)
	}
}

// TestBadPadding seals non-canonical padding by hand and checks Open refuses it.
func TestBadPadding(t *testing.T) {
	k := testKey(t, 4)
	seal := func(padded []byte) []byte {
		enc, s, err := hpke.NewSender(k.PublicKey(), kdf, aead, []byte(Info))
		if err != nil {
			t.Fatal(err)
		}
		out := append([]byte{Version}, enc...)
		ct, err := s.Seal(out[:1], padded)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, ct...)
	}
	allZero := make([]byte, 256)
	noMarker := bytes.Repeat([]byte{1}, 256)
	tooBig := make([]byte, 512) // 3-byte payload in the 512 bucket
	tooBig[3] = 0x80
	for name, p := range map[string][]byte{"zeros": allZero, "no-marker": noMarker, "oversized": tooBig} {
		if _, err := Open(k, seal(p)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseMarshal(t *testing.T) {
	k := testKey(t, 5)
	env, err := Seal(k.PublicKey(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Parse(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Marshal(), env) {
		t.Error("Marshal(Parse(env)) != env")
	}
	bad := bytes.Clone(env)
	bad[0] = 2
	if _, err := Parse(bad); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v, want ErrVersion", err)
	}
}

func BenchmarkSealOpen1KiB(b *testing.B) {
	k := testKey(b, 9)
	pub := k.PublicKey()
	p := payloadOf(1024)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		env, err := Seal(pub, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(k, env); err != nil {
			b.Fatal(err)
		}
	}
}
