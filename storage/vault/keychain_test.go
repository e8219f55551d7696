package vault

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// memKeychain is an in-memory Keychain; failing makes every call fail,
// as a locked or absent key store does.
type memKeychain struct {
	mu      sync.Mutex
	m       map[string][]byte
	failing bool
}

func newMemKeychain() *memKeychain { return &memKeychain{m: map[string][]byte{}} }

var errStoreDown = errors.New("key store unavailable")

func (k *memKeychain) Store(id string, key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing {
		return errStoreDown
	}
	k.m[id] = bytes.Clone(key)
	return nil
}

func (k *memKeychain) Load(id string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing {
		return nil, errStoreDown
	}
	b, ok := k.m[id]
	if !ok {
		return nil, fmt.Errorf("keychain entry %s: %w", id, ErrNotFound)
	}
	return bytes.Clone(b), nil
}

func (k *memKeychain) Delete(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing {
		return errStoreDown
	}
	delete(k.m, id)
	return nil
}

func (k *memKeychain) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

func TestKeychain(t *testing.T) {
	kc := newMemKeychain()
	opts := testOpts()
	opts.Keychain = kc
	dir := t.TempDir()
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("unlocked by the key store")}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if kc.len() != 1 {
		t.Fatalf("keychain entries after Create: %d, want 1", kc.len())
	}

	// No passphrase needed.
	v, err = OpenWithKeychain(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := v.Message("c", 1); err != nil || string(m.Body) != "unlocked by the key store" {
		t.Fatalf("message after keychain unlock: %q, %v", m.Body, err)
	}
	// The passphrase changes, the master key and so the entry do not.
	if err := v.ChangePassphrase(testPass, []byte("new pass")); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if v, err = OpenWithKeychain(dir, opts); err != nil {
		t.Fatalf("keychain unlock after a passphrase change: %v", err)
	}
	v.Close()

	// A key store that fails: the keychain path says so, the
	// passphrase path works.
	kc.failing = true
	before := hashDir(t, dir)
	if _, err := OpenWithKeychain(dir, opts); !errors.Is(err, ErrKeychain) {
		t.Errorf("failing key store: got %v, want ErrKeychain", err)
	}
	sameHashes(t, before, hashDir(t, dir))
	v, err = Open(dir, []byte("new pass"), opts)
	if err != nil {
		t.Fatalf("passphrase with a failing key store: %v", err)
	}
	if err := v.ForgetKeychain(); !errors.Is(err, errStoreDown) {
		t.Errorf("ForgetKeychain with a failing store: got %v", err)
	}
	kc.failing = false
	if err := v.ForgetKeychain(); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if kc.len() != 0 {
		t.Errorf("entries after ForgetKeychain: %d, want 0", kc.len())
	}
	if _, err := OpenWithKeychain(dir, opts); !errors.Is(err, ErrKeychain) {
		t.Errorf("after ForgetKeychain: got %v, want ErrKeychain", err)
	}
	// Without the option nothing is stored, and the keychain path is
	// refused.
	v, err = Open(dir, []byte("new pass"), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if kc.len() != 0 {
		t.Errorf("entries after an Open without the option: %d", kc.len())
	}
	if _, err := OpenWithKeychain(dir, testOpts()); !errors.Is(err, ErrKeychain) {
		t.Errorf("no keychain in the options: got %v, want ErrKeychain", err)
	}
}

// A wrong key under the vault's entry (another vault's, or damaged) is
// ErrKeychain and changes nothing on disk.
func TestKeychainWrongKey(t *testing.T) {
	kc := newMemKeychain()
	opts := testOpts()
	opts.Keychain = kc
	dir := t.TempDir()
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	id := v.hdr.keychainID()
	v.Close()
	before := hashDir(t, dir)
	for name, key := range map[string][]byte{
		"other key": bytes.Repeat([]byte{1}, keySize),
		"short key": {1, 2, 3},
	} {
		kc.Store(id, key)
		if _, err := OpenWithKeychain(dir, opts); !errors.Is(err, ErrKeychain) {
			t.Errorf("%s: got %v, want ErrKeychain", name, err)
		}
		sameHashes(t, before, hashDir(t, dir))
	}
	if v, err := Open(dir, testPass, opts); err != nil {
		t.Errorf("passphrase after a bad keychain entry: %v", err)
	} else {
		v.Close()
	}
}
