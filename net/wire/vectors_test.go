package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wire/internal/vectors"
)

const vectorDir = "../../testdata/frames"

// Go error text for each language-neutral reason of an invalid vector.
var reasonText = map[string]string{
	vectors.ReasonShortFrame:    "shorter than",
	vectors.ReasonBadVersion:    "unsupported version",
	vectors.ReasonUnknownType:   "unknown frame type",
	vectors.ReasonTruncated:     "truncated",
	vectors.ReasonTrailingBytes: "trailing bytes",
	vectors.ReasonBadBoolean:    "want 0 or 1",
	vectors.ReasonTooLong:       "limit",
	vectors.ReasonTooMany:       "count",
	vectors.ReasonOutOfRange:    "limit",
}

func loadVectors(t *testing.T) []*vectors.Vector {
	t.Helper()
	vs, err := vectors.Load(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("no vectors in %s", vectorDir)
	}
	return vs
}

func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	seen := map[wire.Type]bool{}
	var nValid, nInvalid int
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			frame, err := v.FrameBytes()
			if err != nil {
				t.Fatalf("frame hex: %v", err)
			}
			if !v.Valid {
				nInvalid++
				want, ok := reasonText[v.Reason]
				if !ok {
					t.Fatalf("unknown reason %q", v.Reason)
				}
				_, m, err := wire.Decode(frame)
				if err == nil {
					t.Fatalf("Decode accepted %T, want a %s error", m, v.Reason)
				}
				if !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), want) {
					t.Fatalf("Decode error %q, want ErrMalformed mentioning %q (%s)", err, want, v.Reason)
				}
				return
			}
			nValid++
			id, m, err := v.Message()
			if err != nil {
				t.Fatal(err)
			}
			seen[m.Type()] = true
			if got := wire.Encode(id, m); !bytes.Equal(got, frame) {
				t.Fatalf("Encode(fields):\n got %x\nwant %x", got, frame)
			}
			gotID, got, err := wire.Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if gotID != id {
				t.Errorf("id: got %d, want %d", gotID, id)
			}
			if !equalMessages(got, m) {
				t.Errorf("Decode(frame):\n got %#v\nwant %#v", got, m)
			}
			if v.Auth != nil {
				checkAuthVector(t, v, m)
			}
		})
	}
	for _, m := range vectors.AllTypes() {
		if !seen[m.Type()] {
			t.Errorf("no valid vector for %v", m.Type())
		}
	}
	if nValid == 0 || nInvalid == 0 {
		t.Errorf("%d valid and %d invalid vectors, want some of each", nValid, nInvalid)
	}
}

// checkAuthVector recomputes the signed bytes and the signature from the
// seed, so the vector pins down AuthMessage and the Ed25519 use.
func checkAuthVector(t *testing.T, v *vectors.Vector, m wire.Message) {
	t.Helper()
	a := v.Auth
	h := func(s string, n int) []byte {
		b, err := hex.DecodeString(s)
		if err != nil || (n > 0 && len(b) != n) {
			t.Fatalf("auth hex %q: %d bytes, %v", s, len(b), err)
		}
		return b
	}
	k := func(s string) (out wire.Key32) { copy(out[:], h(s, 32)); return }
	priv := ed25519.NewKeyFromSeed(h(a.Seed, ed25519.SeedSize))
	owner := k(a.Owner)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), owner[:]) {
		t.Fatalf("owner %x is not the seed's public key", owner)
	}
	mailbox := wire.MailboxID(k(a.Mailbox))
	tokenHash := k(a.TokenHash)
	if a.SendToken != "" {
		if sum := sha256.Sum256(h(a.SendToken, 32)); wire.Key32(sum) != tokenHash {
			t.Errorf("token_hash is not SHA-256(send_token)")
		}
	}
	msg := wire.AuthMessage(byte(a.Op), k(a.Relay), k(a.Challenge), mailbox, owner, tokenHash)
	if want := h(a.SignedData, 0); !bytes.Equal(msg, want) {
		t.Fatalf("AuthMessage:\n got %x\nwant %x", msg, want)
	}
	sig := h(a.Signature, ed25519.SignatureSize)
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatal("signature does not verify")
	}
	if got := ed25519.Sign(priv, msg); !bytes.Equal(got, sig) {
		t.Fatalf("Sign: got %x, want %x", got, sig)
	}
	var frameSig wire.Signature
	switch m := m.(type) {
	case *wire.Register:
		if a.Op != int(wire.OpRegister) || m.Mailbox != mailbox || m.OwnerKey != owner || m.SendTokenHash != tokenHash {
			t.Fatal("Register fields disagree with auth")
		}
		frameSig = m.Signature
	case *wire.Auth:
		if a.Op != int(wire.OpAuth) || m.Mailbox != mailbox || !tokenHash.IsZero() {
			t.Fatal("Auth fields disagree with auth")
		}
		frameSig = m.Signature
	default:
		t.Fatalf("auth section on a %v vector", m.Type())
	}
	if !bytes.Equal(frameSig[:], sig) {
		t.Fatal("frame signature differs from auth.signature")
	}
}

// TestVectorsUpToDate fails when testdata/frames differs from what
// internal/vectors defines; run `go run ./net/wire/internal/genvectors`
// from the repository root to regenerate.
func TestVectorsUpToDate(t *testing.T) {
	want, err := vectors.All()
	if err != nil {
		t.Fatal(err)
	}
	got := loadVectors(t)
	if len(got) != len(want) {
		t.Fatalf("%d vector files, generator makes %d; regenerate with go run ./net/wire/internal/genvectors", len(got), len(want))
	}
	byName := map[string]*vectors.Vector{}
	for _, v := range got {
		byName[v.Name] = v
	}
	for _, w := range want {
		g, ok := byName[w.Name]
		if !ok {
			t.Errorf("vector %s missing on disk", w.Name)
			continue
		}
		gb, _ := g.FrameBytes()
		wb, _ := w.FrameBytes()
		if !bytes.Equal(gb, wb) || g.Valid != w.Valid || g.Reason != w.Reason {
			t.Errorf("vector %s on disk differs from the generator", w.Name)
		}
	}
}
