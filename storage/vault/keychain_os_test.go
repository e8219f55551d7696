package vault

import (
	"errors"
	"testing"

	keyring "github.com/zalando/go-keyring"
)

// The adapter's own logic (encoding, error mapping), over go-keyring's
// in-memory provider: the real stores need a desktop session.
func TestOSKeychainAdapter(t *testing.T) {
	keyring.MockInit()
	kc := OSKeychain{Service: "ephemera test"}
	opts := testOpts()
	opts.Keychain = kc
	dir := t.TempDir()
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	id := v.hdr.keychainID()
	v.Close()
	if _, err := keyring.Get("ephemera test", id); err != nil {
		t.Fatalf("entry in the store: %v", err)
	}
	v, err = OpenWithKeychain(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ForgetKeychain(); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if _, err := kc.Load(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after ForgetKeychain: got %v, want ErrNotFound", err)
	}
	if err := kc.Delete(id); err != nil {
		t.Errorf("Delete of a missing entry: %v", err)
	}
	keyring.Set("ephemera test", id, "not base64!")
	if _, err := kc.Load(id); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load of a damaged entry: got %v, want ErrCorrupt", err)
	}
	if _, err := OpenWithKeychain(dir, opts); !errors.Is(err, ErrKeychain) {
		t.Errorf("OpenWithKeychain with a damaged entry: got %v, want ErrKeychain", err)
	}
}
