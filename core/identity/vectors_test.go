package identity_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/ephemera-im/ephemera/internal/testvec"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/e2e from the code")

const vectorDir = "../../testdata/e2e"

// vector is one file testdata/e2e/identity*.json. Kind "identity" describes
// one identity made from a seed; kind "safety" the safety number of two.
// Byte strings are hex.
type vector struct {
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
	Kind    string `json:"kind"`

	Seed              string `json:"seed,omitempty"`
	Pseudonym         string `json:"pseudonym,omitempty"`
	Private           string `json:"private,omitempty"`
	SigningPublic     string `json:"signing_public,omitempty"`
	DHPublic          string `json:"dh_public,omitempty"`
	EnvelopeKeySHA256 string `json:"envelope_key_sha256,omitempty"`
	Bundle            string `json:"bundle,omitempty"`

	SeedA        string `json:"seed_a,omitempty"`
	PseudonymA   string `json:"pseudonym_a,omitempty"`
	SeedB        string `json:"seed_b,omitempty"`
	PseudonymB   string `json:"pseudonym_b,omitempty"`
	SafetyNumber string `json:"safety_number,omitempty"`
	QRA          string `json:"qr_a,omitempty"`
	QRB          string `json:"qr_b,omitempty"`
}

func fixedSeed(start byte) string { return hex.EncodeToString(seed(start)) }

// vectorInputs are the inputs the generator starts from.
func vectorInputs() []vector {
	return []vector{
		{Name: "identity-alice", Kind: "identity", Seed: fixedSeed(0x00), Pseudonym: "Alice",
			Comment: "identity from a fixed 32-byte seed (HKDF-SHA-256 derivation), its private encoding and signed bundle"},
		{Name: "identity-bob", Kind: "identity", Seed: fixedSeed(0x20), Pseudonym: "Bob 🙂"},
		{Name: "identity-safety-alice-bob", Kind: "safety",
			SeedA: fixedSeed(0x00), PseudonymA: "Alice", SeedB: fixedSeed(0x20), PseudonymB: "Bob 🙂",
			Comment: "safety number of two identities; qr_a is what A shows, qr_b what B shows"},
	}
}

func fromHexSeed(t *testing.T, s, name string) *identity.Identity {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("seed hex: %v", err)
	}
	id, err := identity.FromSeed(b, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// compute fills a vector's outputs from its inputs.
func compute(t *testing.T, v vector) vector {
	switch v.Kind {
	case "identity":
		id := fromHexSeed(t, v.Seed, v.Pseudonym)
		priv, err := id.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b := id.Bundle()
		d := sha256.Sum256(b.EnvelopeKey)
		v.Private = hex.EncodeToString(priv)
		v.SigningPublic = hex.EncodeToString(b.SigningKey)
		v.DHPublic = hex.EncodeToString(b.DHKey)
		v.EnvelopeKeySHA256 = hex.EncodeToString(d[:])
		v.Bundle = hex.EncodeToString(b.Marshal())
	case "safety":
		a := fromHexSeed(t, v.SeedA, v.PseudonymA)
		b := fromHexSeed(t, v.SeedB, v.PseudonymB)
		ab, err := a.SafetyNumber(b.Bundle())
		if err != nil {
			t.Fatal(err)
		}
		ba, err := b.SafetyNumber(a.Bundle())
		if err != nil {
			t.Fatal(err)
		}
		if ab.String() != ba.String() {
			t.Fatalf("asymmetric safety number %s / %s", ab, ba)
		}
		v.SafetyNumber = ab.String()
		v.QRA = hex.EncodeToString(ab.QRPayload())
		v.QRB = hex.EncodeToString(ba.QRPayload())
	default:
		t.Fatalf("unknown kind %q", v.Kind)
	}
	return v
}

func TestVectors(t *testing.T) {
	if *update {
		for _, v := range vectorInputs() {
			testvec.Write(t, filepath.Join(vectorDir, v.Name+".json"), compute(t, v))
		}
	}
	for _, f := range testvec.Load[vector](t, filepath.Join(vectorDir, "identity*.json")) {
		v := f.V
		t.Run(v.Name, func(t *testing.T) {
			got := compute(t, v)
			got.Comment = v.Comment
			if got != v {
				g, _ := json.MarshalIndent(got, "", "  ")
				t.Fatalf("vector mismatch; got\n%s", g)
			}
			if v.Kind == "identity" {
				checkIdentityVector(t, v)
			}
		})
	}
}

// checkIdentityVector also decodes the stored bytes, not only re-derives them.
func checkIdentityVector(t *testing.T, v vector) {
	priv, _ := hex.DecodeString(v.Private)
	id, err := identity.ParsePrivate(priv)
	if err != nil {
		t.Fatalf("ParsePrivate: %v", err)
	}
	enc, _ := hex.DecodeString(v.Bundle)
	b, err := identity.ParseBundle(enc)
	if err != nil {
		t.Fatalf("ParseBundle: %v", err)
	}
	if !b.Equal(id.Bundle()) || !bytes.Equal(b.Marshal(), enc) {
		t.Fatal("decoded bundle differs")
	}
}

// TestSafetyNumberReference recomputes the vector's safety number with a
// straight transcription of the construction in docs/E2E-IDENTITY.md, so the
// vector is checked against the description, not only against the code.
func TestSafetyNumberReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(vectorDir, "identity-safety-alice-bob.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	fp := func(seedHex, name string) []byte {
		b := fromHexSeed(t, seedHex, name).Bundle()
		keys := append(append(append([]byte{0x01}, b.SigningKey...), 0x02), b.DHKey...)
		h := sha512.Sum512(append(append([]byte{0x00, 0x01}, "ephemera/safety-number/v1"...), keys...))
		for range 5200 {
			h = sha512.Sum512(append(h[:], keys...))
		}
		return h[:32]
	}
	digits := func(fp []byte) string {
		s := ""
		for i := 0; i < 30; i += 5 {
			n := uint64(0)
			for _, c := range fp[i : i+5] {
				n = n<<8 | uint64(c)
			}
			s += fmt.Sprintf("%05d", n%100000)
		}
		return s
	}
	a, b := fp(v.SeedA, v.PseudonymA), fp(v.SeedB, v.PseudonymB)
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	all := digits(a) + digits(b)
	var groups []string
	for i := 0; i < 60; i += 5 {
		groups = append(groups, all[i:i+5])
	}
	if got := strings.Join(groups, " "); got != v.SafetyNumber {
		t.Fatalf("reference %s, vector %s", got, v.SafetyNumber)
	}
}
