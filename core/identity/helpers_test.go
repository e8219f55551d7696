package identity_test

import (
	"bytes"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

// seed returns a fixed SeedSize-byte seed starting at start.
func seed(start byte) []byte {
	s := make([]byte, identity.SeedSize)
	for i := range s {
		s[i] = start + byte(i)
	}
	return s
}

func mustIdentity(t testing.TB, start byte, name string) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(bytes.NewReader(seed(start)), name)
	if err != nil {
		t.Fatalf("Generate(%q): %v", name, err)
	}
	return id
}
