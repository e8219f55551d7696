package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
)

// Keychain keeps copies of vault master keys in the operating system's
// key store (Secret Service on Linux, Keychain on macOS, Credential
// Manager on Windows), so a user who chooses it can unlock without
// typing the passphrase. It is off unless Options.Keychain is set, and
// the passphrase always works whatever the key store holds.
//
// Entries are named by the vault's random id (hex), which says nothing
// about the user. Implementations must be safe for concurrent use.
// Tests use an in-memory fake; keychain_os.go has the adapter for the
// operating system's store.
type Keychain interface {
	// Store saves key as the entry for vault id, replacing any.
	Store(id string, key []byte) error
	// Load returns the entry for vault id; an error wrapping
	// ErrNotFound if there is none.
	Load(id string) ([]byte, error)
	// Delete removes the entry for vault id; a missing one is no error.
	Delete(id string) error
}

// ErrKeychain: OpenWithKeychain found no usable master key in the
// keychain (none stored, the store failed, or the key does not open this
// vault), or the vault needs its passphrase (a schema migration rewraps
// the key under it). Ask for the passphrase and use Open.
var ErrKeychain = errors.New("vault: no usable key in the keychain")

func (h *header) keychainID() string { return hex.EncodeToString(h.VaultID[:]) }

// keychainStore copies the master key to opts.Keychain, if set, after a
// passphrase unlock. A failure does not fail the unlock: the passphrase
// worked, and the key store is a convenience.
func (v *Vault) keychainStore() {
	if v.opts.Keychain != nil {
		v.opts.Keychain.Store(v.hdr.keychainID(), v.keys.master)
	}
}

// OpenWithKeychain unlocks the vault in dir with the master key kept in
// opts.Keychain (which must be set) instead of a passphrase. Whatever is
// wrong with the keychain or its entry, the error wraps ErrKeychain (and
// nothing on disk was changed): fall back to Open with the passphrase.
// A missing, damaged, foreign or newer header fails as in Open.
func OpenWithKeychain(dir string, opts Options) (*Vault, error) {
	if opts.Keychain == nil {
		return nil, fmt.Errorf("vault: open %s: %w: no keychain in the options", dir, ErrKeychain)
	}
	if err := finishRekey(dir); err != nil {
		return nil, fmt.Errorf("vault: open %s: finishing a re-key: %w", dir, err)
	}
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if h.Version != currentVersion {
		return nil, fmt.Errorf("vault: open %s: %w: schema version %d must be migrated with the passphrase", dir, ErrKeychain, h.Version)
	}
	master, err := opts.Keychain.Load(h.keychainID())
	if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w: %v", dir, ErrKeychain, err)
	}
	if len(master) != keySize {
		clear(master)
		return nil, fmt.Errorf("vault: open %s: %w: key of %d bytes", dir, ErrKeychain, len(master))
	}
	if err := checkDB(filepath.Join(dir, DBFile)); err != nil {
		clear(master)
		return nil, err
	}
	v, err := open(dir, h, master, nil, opts, openExisting)
	if err != nil {
		// The check record tells a key that does not open this vault.
		if errors.Is(err, ErrCorrupt) || errors.Is(err, errNeedPassphrase) {
			return nil, fmt.Errorf("%w: %w", ErrKeychain, err)
		}
		return nil, err
	}
	return v, nil
}

// ForgetKeychain removes the vault's master key from opts.Keychain (the
// user turned the option off); the passphrase is then the only way in.
func (v *Vault) ForgetKeychain() error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.keys == nil {
		return ErrLocked
	}
	if v.opts.Keychain == nil {
		return nil
	}
	if err := v.opts.Keychain.Delete(v.hdr.keychainID()); err != nil {
		return fmt.Errorf("vault: forget keychain entry: %w", err)
	}
	return nil
}

// errNeedPassphrase: a migration must rewrite the header, which only the
// passphrase can wrap.
var errNeedPassphrase = errors.New("vault: the passphrase is needed to finish a schema migration")
