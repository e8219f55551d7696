package vault

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var testPass = []byte("correct horse battery staple")

func testOpts() Options { return Options{InsecureTestKDF: true, NoSync: true} }

func newVault(t testing.TB) (*Vault, string) {
	t.Helper()
	dir := t.TempDir()
	v, err := Create(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dir
}

// hashDir returns the SHA-256 of every file in dir by name.
func hashDir(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = sha256.Sum256(b)
	}
	return m
}

func sameHashes(t testing.TB, before, after map[string][32]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("files: got %d, want %d", len(after), len(before))
	}
	for name, h := range before {
		if after[name] != h {
			t.Errorf("%s changed", name)
		}
	}
}

// decodeHeaderNoSum recomputes the checksum of an edited header; tests
// use it to reach the checks behind the checksum.
func decodeHeaderNoSum(b []byte) ([]byte, error) {
	if len(b) != headerSize {
		return nil, fmt.Errorf("header of %d bytes", len(b))
	}
	sum := sha256.Sum256(b[:headerSize-sha256.Size])
	return append(b[:headerSize-sha256.Size:headerSize-sha256.Size], sum[:]...), nil
}
